"""The order Keras 3 runs a functional model's calls in, and what that order does to masks.

Keras keeps a mask as an attribute of the tensor object, and hands every call of a tensor
the same object. Keras 3.8+'s MultiHeadAttention reads the masks of its query, value and key,
then clears them on those objects: a call that Keras runs after it and that reads the mask of
one of them from the tensor finds none (a second attention over the same sequence, a merge
with it: in a stack of transformer blocks, the second block attends to the padding). A mask
Keras recorded in the config as the call's own `mask=` argument is passed explicitly and
stays. Which calls run after it is Keras's order (keras.src.ops.function.map_graph): by
depth from the outputs, the deepest first, and in the order the graph walk met them within
one depth.
"""
from __future__ import annotations

from ..graph import Call, Ref
from ..kinds import lookup

#: the first Keras whose MultiHeadAttention clears its inputs' masks
CLEARS_MASKS_FROM = (3, 8)
_CLEARING = "keras.layers.MultiHeadAttention"

CallKey = tuple[str, int]  # (layer name, node index)


def run_order(calls: list[Call], outputs: list[Ref]) -> list[Call]:
    """`calls` in the order Keras 3 runs them: map_graph's depths (a call's depth is one more than the deepest of
    the calls reading its outputs; a shared layer's calls at least as deep as its deepest seen), deepest first,
    and within a depth in the order the depths were first set walking back from the outputs."""
    by_key = {(call.layer.name, call.node): call for call in calls}
    walked: list[CallKey] = []  # post-order of the depth-first walk from the outputs: inputs -> outputs
    finished: set[CallKey] = set()

    def visit(key: CallKey) -> None:
        pending = [(key, False)]
        while pending:  # iterative: deep graphs must not exhaust Python's stack
            current, children_done = pending.pop()
            if current in finished or current not in by_key:
                continue
            if children_done:
                finished.add(current)
                walked.append(current)
                continue
            pending.append((current, True))
            for ref in reversed(by_key[current].refs(keywords_by_name=True)):
                pending.append((ref[:2], False))

    for ref in outputs:
        visit(ref[:2])
    depths: dict[CallKey, int] = {}  # insertion order is Keras's order within a depth
    layer_depths: dict[str, int] = {}
    for key in reversed(walked):
        depth = max(depths.setdefault(key, 0), layer_depths.get(key[0], 0))
        layer_depths[key[0]] = depths[key] = depth
        for ref in by_key[key].refs(keywords_by_name=True):
            if ref[:2] in by_key:
                depths[ref[:2]] = max(depth + 1, depths.get(ref[:2], 0))
    ordered = sorted(depths, key=lambda key: -depths[key])  # stable: insertion order within a depth
    return [by_key[key] for key in ordered]


def masks_cleared(calls: list[Call], outputs: list[Ref]) -> set[tuple[CallKey, Ref]]:
    """(call, tensor) pairs where the call finds the tensor's Keras mask cleared by a MultiHeadAttention that
    Keras ran before it on the same tensor (Keras 3.8+)."""
    cleared: set[Ref] = set()
    found: set[tuple[CallKey, Ref]] = set()
    for call in run_order(calls, outputs):
        key = (call.layer.name, call.node)
        found.update((key, ref) for ref in call.refs() if ref in cleared)
        kind = None if call.layer.is_model else lookup(call.layer)
        if kind is not None and kind.name == _CLEARING:
            cleared.update(call.refs())
    return found
