"""CuDNNLSTM, CuDNNGRU (Keras 2, tf.keras 1.x) -> nn.LSTM, nn.GRU(batch_first=True).

cuDNN's LSTM and GRU are torch's own: tanh and sigmoid, GRU's reset gate applied after the
recurrent matmul, an input and a recurrent bias. Keras hands cuDNN each gate's block of a
kernel reshaped to (units, in) from its C-order values (canonical_to_params), so that is the
matrix each block holds; the biases are the input ones, then the recurrent ones.
"""
from __future__ import annotations

from .recurrent import register_recurrent

register_recurrent(
    "CuDNNLSTM",
    description="each gate's kernel block read as cuDNN's (units, in) -> weight_ih/hh_l0 (gates i,f,c,o = i,f,g,o); "
                "bias halves -> bias_ih_l0, bias_hh_l0",
    tested="return_sequences, go_backwards, stacked, Bidirectional; files tf_keras wrote, against an LSTM given "
           "Keras's own conversion of the weights",
)
register_recurrent(
    "CuDNNGRU",
    description="each gate's kernel block read as cuDNN's (units, in), gates z,r,h -> r,z,n; bias halves -> "
                "bias_ih_l0, bias_hh_l0 (nn.GRU's math: reset_after=True)",
    tested="return_sequences, go_backwards, stacked, Bidirectional; files tf_keras wrote, against a "
           "GRU(reset_after=True) given Keras's own conversion of the weights",
)
