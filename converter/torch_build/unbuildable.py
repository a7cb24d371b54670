"""What the builder refuses before it builds anything: layers with no rule to build them (Lambda, custom layers,
operations without a rule, preprocessing with outside state) and layers computing in an integer dtype policy."""
from __future__ import annotations

from ..errors import UnsupportedLayerError
from ..graph import ModelGraph
from ..kinds import lookup
from ..kinds.outside_state import OUTSIDE_STATE
from ..lambda_expressions import lambda_config, option_example
from .integers import refuse_integer_policies


def refuse_unbuildable(graph: ModelGraph) -> None:
    """Refuse a graph any of whose layers cannot be built, naming them all and what to do instead."""
    unsupported = [layer for layer in graph.walk() if layer.class_name != "InputLayer"
                   and (lookup(layer) is None or lookup(layer).forward is None  # type: ignore[union-attr]
                        or (lambda_config(layer) is not None and layer.expression is None))]
    unsupported += list(graph.custom_layers())  # its sublayers have rules; what it computes is code
    if unsupported:
        names = ", ".join(f"{layer.key} ({layer.label})" for layer in unsupported)
        preprocessing = [layer.key for layer in unsupported if layer.class_name in OUTSIDE_STATE]
        hint = (f"; {', '.join(preprocessing)}: preprocessing whose state (a vocabulary, bins) PyTorch cannot "
                "compute in the model: run it before the model, on the model's input" if preprocessing else "")
        operations = [layer for layer in unsupported if layer.label.startswith("keras.ops.")]
        lambdas = [layer.key for layer in unsupported if lambda_config(layer) is not None]
        others = len(unsupported) - len(operations) - len(lambdas)
        what = "; custom layers need hand-written code" if others else ""
        if lambdas:
            what += (f"; a Lambda's function is code, which weightport never runs: say what {lambdas[0]} computes, "
                     f"e.g. {option_example(lambdas[0])} (lambdas={{...}} in Python; README: Lambda layers)")
        if operations:
            what += "; no rule here builds those keras.ops operations yet"
        custom = [layer.key for layer in unsupported if layer.custom]
        if custom:
            what += (f"; the built-in layers inside {', '.join(custom)} convert (`convert`, `load_into`) for a "
                     "PyTorch module you write")
        raise UnsupportedLayerError(
            f"{graph.source}: no PyTorch equivalent for {len(unsupported)} layer(s): {names}{what}{hint}",
            [(layer.key, layer.label) for layer in unsupported])
    refuse_integer_policies(graph)
