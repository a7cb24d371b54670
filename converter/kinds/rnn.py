"""RNN(cell) of a built-in cell (LSTMCell, GRUCell, SimpleRNNCell) -> nn.LSTM/GRU/RNN, as that cell's layer.

`keras.layers.RNN(keras.layers.LSTMCell(u))` computes what `LSTM(u)` does and saves the same
variables under its cell (`cell/vars/0..2`, tf.keras `rnn/lstm_cell/kernel:0`): it converts
and builds by the recurrent rules, with the cell's options and the RNN's return_sequences,
return_state and go_backwards. StackedRNNCells and user cells are refused by name.
"""
from __future__ import annotations

from ..config import Config
from ..conversion import LayerConversion
from ..graph import Layer
from .forward import Emitter, Value
from .recurrent import recurrent_convert, recurrent_forward, rnn_variables
from .registry import Kind, register
from .rules import Context, Variable, wrapped

#: a built-in cell -> the layer that runs it
CELLS = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}
#: the RNN's own options, laid over its cell's
RNN_OPTIONS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")


def as_layer(config: Config) -> tuple[str, Config]:
    """(LSTM, GRU or SimpleRNN; the config that layer would have), or ('', ...) for another cell."""
    cell_class, cell = wrapped(config, "cell")
    merged = Config(dict(cell, **{key: config[key] for key in RNN_OPTIONS if key in config}), config.where)
    return CELLS.get(cell_class, ""), merged


def variables(config: Config) -> list[Variable]:
    class_name, merged = as_layer(config)
    return rnn_variables(class_name, merged) if class_name else []


def unsupported(layer: Layer) -> str | None:
    cell_class, _ = wrapped(layer.config, "cell")
    if cell_class in CELLS:
        return None
    return (f"its cell is a {cell_class or 'list of cells'}; only RNN(LSTMCell), RNN(GRUCell) and RNN(SimpleRNNCell) "
            "are built (StackedRNNCells: use stacked LSTM/GRU layers)")


def convert(layer: Layer, context: Context) -> LayerConversion:
    class_name, merged = as_layer(layer.config)
    return recurrent_convert(layer, class_name, merged)


def forward(e: Emitter) -> Value | list[Value]:
    class_name, merged = as_layer(e.config)
    return recurrent_forward(e, class_name, merged)


register(Kind(
    "keras.layers.RNN", module="nn.LSTM/GRU/RNN(batch_first=True)", variables=variables, convert=convert,
    forward=forward, unsupported=unsupported,
    description="RNN(LSTMCell/GRUCell/SimpleRNNCell): as the LSTM, GRU or SimpleRNN of that cell",
    tested="each built-in cell, return_sequences, go_backwards",
))
