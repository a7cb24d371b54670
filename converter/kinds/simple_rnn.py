"""SimpleRNN -> nn.RNN(batch_first=True, nonlinearity=tanh|relu)."""
from __future__ import annotations

from .recurrent import register_recurrent

register_recurrent(
    "SimpleRNN",
    description="kernel, recurrent_kernel transposed; bias -> bias_ih_l0, zeros -> bias_hh_l0",
    tested="activation tanh/relu (nn.RNN) and others (its own cell), return_sequences, go_backwards",
)
