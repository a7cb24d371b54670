"""GRU -> nn.GRU(batch_first=True): Keras gates z, r, h become torch's r, z, n.

reset_after=True (tf.keras 2 and Keras 3 default) is nn.GRU's own math, with Keras's
(2, 3u) bias split into bias_ih and bias_hh. reset_after=False (standalone Keras 2's
default) applies the reset gate before the recurrent matmul: converted, and warned.
"""
from __future__ import annotations

from .recurrent import register_recurrent

register_recurrent(
    "GRU",
    description="gates z,r,h -> r,z,n, transposed; reset_after=True bias[0] -> bias_ih, bias[1] -> bias_hh; "
                "reset_after=False warned (needs its own cell)",
    tested="reset_after True/False, return_sequences, go_backwards, use_bias, stacked",
)
