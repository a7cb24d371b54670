"""LSTM -> nn.LSTM(batch_first=True): Keras gates i, f, c, o are torch's i, f, g, o."""
from __future__ import annotations

from .recurrent import register_recurrent

register_recurrent(
    "LSTM",
    description="kernel, recurrent_kernel transposed to weight_ih/hh_l0 (gates i,f,c,o = i,f,g,o); "
                "bias -> bias_ih_l0, zeros -> bias_hh_l0",
    tested="return_sequences, go_backwards, use_bias, stacked",
)
