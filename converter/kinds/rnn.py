"""RNN(cell) of built-in cells -> nn.LSTM/GRU/RNN, as that cell's layer.

`keras.layers.RNN(keras.layers.LSTMCell(u))` computes what `LSTM(u)` does and saves the same
variables under its cell (`cell/vars/0..2`, tf.keras `rnn/lstm_cell/kernel:0`): it converts
and builds by the recurrent rules, with the cell's options and the RNN's return_sequences,
return_state and go_backwards. Stacked cells (`RNN([LSTMCell(u), LSTMCell(u)])`, a
StackedRNNCells) feed each step through the cells in turn, which is a multi-layer torch RNN:
cell k's variables become its `_l{k}` parameters, when the cells are of one kind and size with
torch's activations. User cells, and other stacks, are refused by name.
"""
from __future__ import annotations

from typing import Any

from ..config import Config
from ..conversion import LayerConversion
from ..graph import Layer
from ..keras_names import to_snake_case
from .forward import Emitter, Value
from .recurrent import (
    needs_own_cell, recurrent_convert, recurrent_forward, rnn_tensors, rnn_variables,
)
from .registry import Kind, register
from .rules import Context, Variable, wrapped

#: a built-in cell -> the layer that runs it
CELLS = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}
#: the RNN's own options, laid over its cell's
RNN_OPTIONS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")


def cells(config: Config) -> list[tuple[str, Config]]:
    """(cell class, the config its layer would have: the cell's, with the RNN's options) of each cell."""
    cell_class, cell = wrapped(config, "cell")
    entries = [(cell_class, cell)]
    if cell_class == "StackedRNNCells":
        listed = cell.get("cells")
        entries = [wrapped(Config({"cell": entry}, config.where), "cell")
                   for entry in (listed if isinstance(listed, list) else [])]
    return [(name, Config(dict(inner, **{key: config[key] for key in RNN_OPTIONS if key in config}), config.where))
            for name, inner in entries]


def as_layer(config: Config) -> tuple[str, Config]:
    """(LSTM, GRU or SimpleRNN; the config of its first cell as that layer), or ('', ...) for other cells."""
    found = cells(config)
    kinds = {CELLS.get(name, "") for name, _ in found}
    return (kinds.pop() if len(kinds) == 1 else "", found[0][1] if found else Config({}, config.where))


def variables(config: Config) -> list[Variable]:
    class_name, merged = as_layer(config)
    if not class_name:
        return []
    found = cells(config)
    if len(found) == 1 and wrapped(config, "cell")[0] != "StackedRNNCells":
        return rnn_variables(class_name, merged)
    result: list[Variable] = []
    counts: dict[str, int] = {}  # Keras 3 stores the stack's cells by class name and count: lstm_cell, lstm_cell_1
    for index, (name, cell) in enumerate(found):
        snake = to_snake_case(name)
        stored = snake if not counts.get(snake) else f"{snake}_{counts[snake]}"
        counts[snake] = counts.get(snake, 0) + 1
        result += rnn_variables(class_name, cell, f"cell/cells/{stored}/", f"cells/{index}/")
    return result


def cells_in_order(layer: Layer) -> None:
    """A legacy file (and a live model) lists a stack's weights in its variables' order, trainable ones first: with
    its first cell frozen (trainable=False), the second cell's come first, and matching them in order swapped the
    cells (or stopped on their shapes). Its tensors in the order of its cells, told by each cell's name in their
    paths (`rnn/stacked_rnn_cells/<cell name>/kernel`); left as they are where the names do not tell."""
    if not _stacked(layer.config):
        return
    names = [cell.get("name") for _, cell in cells(layer.config)]
    if len(set(names)) != len(names) or not all(isinstance(name, str) and name for name in names):
        return

    def cell_of(tensor: Any) -> int | None:
        parts = tensor.source.split("/")
        found = [index for index, name in enumerate(names) if name in parts or f"{name}:0" in parts]
        return found[0] if len(found) == 1 else None

    owners = [cell_of(tensor) for tensor in layer.tensors]
    known = [owner for owner in owners if owner is not None]
    if len(known) == len(owners):
        order = sorted(range(len(known)), key=lambda position: known[position])  # stable within a cell
        layer.tensors = [layer.tensors[position] for position in order]


def _stacked(layer_config: Config) -> bool:
    return wrapped(layer_config, "cell")[0] == "StackedRNNCells"


def unsupported(layer: Layer) -> str | None:
    found = cells(layer.config)
    names = [name for name, _ in found]
    if not found or any(name not in CELLS for name in names):
        return (f"its cell is a {', '.join(names) or 'list of nothing'}; only RNN of LSTMCell, GRUCell or "
                "SimpleRNNCell (or a stack of one of them) is built")
    if _stacked(layer.config):
        units = {cell.get("units") for _, cell in found}
        if len(set(names)) != 1 or len(units) != 1:
            return (f"stacks cells of different kinds or sizes ({', '.join(names)}, units {sorted(map(str, units))}); "
                    "a multi-layer torch RNN needs one kind and one size")
    return None


def convert(layer: Layer, context: Context) -> LayerConversion:
    class_name, merged = as_layer(layer.config)
    if not _stacked(layer.config):
        return recurrent_convert(layer, class_name, merged)
    found = cells(layer.config)
    result = recurrent_convert(layer, class_name, merged, role_prefix="cells/0/")
    for index, (_, cell) in enumerate(found[1:], start=1):
        result.tensors += rnn_tensors(layer, class_name, cell, f"cells/{index}/", layer_index=index)
    result.module.arguments["num_layers"] = len(found)
    result.options["stacked"] = len(found)
    return result


def forward(e: Emitter) -> Value | list[Value]:
    class_name, merged = as_layer(e.config)
    if _stacked(e.config):
        options = e.result.options if e.result else {}
        if needs_own_cell(class_name, options, e.mask()) or merged.bool("return_state", False) \
                or e.named("initial_state") is not None or len(e.inputs) != 1:
            raise e.unsupported("stacked cells with a mask, activations other than torch's, initial or returned "
                                "states are not built yet")
    return recurrent_forward(e, class_name, merged)


register(Kind(
    "keras.layers.RNN", module="nn.LSTM/GRU/RNN(batch_first=True)", variables=variables, convert=convert,
    forward=forward, unsupported=unsupported, stored_order=cells_in_order,
    description="RNN(LSTMCell/GRUCell/SimpleRNNCell): as the LSTM, GRU or SimpleRNN of that cell; a stack of one "
                "kind and size -> num_layers",
    tested="each built-in cell, return_sequences, go_backwards, stacked LSTM and GRU cells",
))
