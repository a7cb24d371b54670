"""keras.ops.rearrange (einops notation, Keras 3.10+): axes split, moved and merged, in Keras's layout (no weights).

`"b (h h1) (w w1) c -> b h w (c h1 w1)"` with h1=2, w1=2 is, as Keras computes it: the input
reshaped to one axis per name (a group's unnamed size is its axis's size over the product of
the lengths given, integer division), permuted to the output's order of names, reshaped to one
axis per output group (the product of its names' sizes). The pattern and lengths are the call's
arguments, recorded in the graph; anything but names, groups of names and `->` is refused.
"""
from __future__ import annotations

import math
import re

from . import operations as op
from .forward import KERAS, Emitter, Value, literal
from .ops_numpy import operands
from .registry import Kind, register

_TOKEN = re.compile(r"\s*(\w+|\(\s*\w+(?:\s+\w+)*\s*\))")


def groups(e: Emitter, side: str) -> list[tuple[list[str], bool]]:
    """One side of the pattern as its axes: the names each holds, and whether it is a (group)."""
    found, at = [], 0
    while side[at:].strip():
        match = _TOKEN.match(side, at)
        if match is None:
            raise e.unsupported(f"rearrange pattern part {side[at:][:30]!r}: names and (groups of names) are built")
        token = match.group(1)
        found.append((token.strip("()").split(), token.startswith("(")))
        at = match.end()
    return found


def rearrange(e: Emitter) -> Value:
    x, rank = op.keras_value(e, operands(e, 1)[0])
    pattern = e.positional(1) if len(e.call.positional) > 1 else e.named("pattern")
    if not isinstance(pattern, str) or pattern.count("->") != 1 or len(pattern) > 500:
        raise e.unsupported(f"rearrange pattern {str(pattern)[:40]!r} is not one 'inputs -> outputs'")
    source, target = (groups(e, side) for side in pattern.split("->"))
    lengths = {key: value for key, value in e.call.kwargs.items() if key != "pattern"}
    if not all(isinstance(value, int) and not isinstance(value, bool) and value > 0 for value in lengths.values()):
        raise e.unsupported(f"rearrange lengths {str(lengths)[:40]} are not positive ints")
    names = [name for group, _ in source for name in group]
    if len(set(names)) != len(names) or sorted(names) != sorted(name for group, _ in target for name in group):
        raise e.unsupported(f"rearrange {pattern[:60]!r}: each name once on each side is built")
    if rank is not None and len(source) != rank:
        raise e.unsupported(f"rearrange {pattern[:60]!r} of a tensor of rank {rank}")
    tensor = e.variable("rearranged")
    e.statement(f"{tensor} = {x}")
    sizes: dict[str, str] = {}
    for axis, (group, grouped) in enumerate(source):
        size = f"{tensor}.shape[{axis}]"
        if not grouped:  # the axis's own size, a length given for it or not (as Keras takes it)
            sizes[group[0]] = size
            continue
        if len([name for name in group if name not in lengths]) > 1:
            raise e.unsupported(f"rearrange {pattern[:60]!r}: a group with more than one length not given")
        for name in group:
            sizes[name] = str(lengths[name]) if name in lengths else \
                f"({size} // {math.prod(lengths[other] for other in group if other in lengths)})"
    expression = f"{tensor}.reshape({', '.join(sizes[name] for name in names)})"
    order = [names.index(name) for group, _ in target for name in group]
    if order != list(range(len(names))):
        expression += f".permute({literal(tuple(order))})"
    final = [" * ".join(sizes[name] for name in group) for group, _ in target]
    return Value(f"{expression}.reshape({', '.join(final)})", KERAS, len(target))


register(Kind("keras.ops.einops.Rearrange", forward=rearrange, description="an operation, no weights",
              tested="merging, splitting (lengths given) and moving axes of feature maps and sequences"))
