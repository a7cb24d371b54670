"""Bidirectional(LSTM/GRU/SimpleRNN) -> one torch RNN with bidirectional=True.

The forward layer's tensors become `weight_ih_l0`, ..., the backward layer's
`weight_ih_l0_reverse`, ... Keras re-reverses the backward sequence before merging, as
torch does; merge_mode (concat, sum, mul, ave, None) is carried for the module to apply.
"""
from __future__ import annotations

from ..config import Config
from ..graph import Layer
from .recurrent import TORCH_MODULES, rnn_arguments, rnn_tensors, rnn_variables, rnn_warnings
from .registry import Context, LayerConversion, Variable, rule, wrapped


MERGE_MODES = ("concat", "sum", "mul", "ave")


def bidirectional_variables(config: Config) -> list[Variable]:
    class_name, inner = wrapped(config)
    if class_name not in TORCH_MODULES:
        return []
    backward_class, backward = wrapped(config, "backward_layer")
    backward = backward if backward_class == class_name else inner
    return (rnn_variables(class_name, inner, "forward_layer/cell/", "forward/")
            + rnn_variables(class_name, backward, "backward_layer/cell/", "backward/"))


def _unsupported(layer: Layer) -> str | None:
    class_name, _ = wrapped(layer.config)
    if class_name not in TORCH_MODULES:
        return f"wraps {class_name or 'no layer'}; only LSTM, GRU and SimpleRNN have a bidirectional torch module"
    backward_class, _ = wrapped(layer.config, "backward_layer")
    if backward_class not in ("", class_name):
        return f"its backward layer is a {backward_class}, its forward one a {class_name}"
    return None


@rule("Bidirectional", torch_module="nn.LSTM/GRU/RNN(bidirectional=True)", variables=bidirectional_variables,
      unsupported=_unsupported,
      description="forward -> *_l0, backward -> *_l0_reverse, each as its recurrent layer; merge_mode carried",
      tested="LSTM and GRU, merge_mode concat/sum/mul/ave/None, return_sequences")
def convert_bidirectional(layer: Layer, context: Context) -> LayerConversion:
    class_name, inner = wrapped(layer.config)
    tensors = (rnn_tensors(layer, class_name, inner, "forward/")
               + rnn_tensors(layer, class_name, inner, "backward/", "_reverse"))
    arguments, options = rnn_arguments(layer, class_name, inner, "forward/")
    arguments["bidirectional"] = True
    merge_mode = layer.config.get("merge_mode", "concat")
    options["merge_mode"] = None if merge_mode is None else layer.config.choice("merge_mode", MERGE_MODES)
    options["kind"] = class_name
    return LayerConversion(layer, TORCH_MODULES[class_name], arguments, tensors,
                           warnings=rnn_warnings(layer, class_name, options), options=options)
