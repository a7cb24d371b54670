"""The order Keras 3 runs a functional model's calls in, and what that order does to masks.

Keras keeps a mask as an attribute of the tensor object, and hands every call of a tensor
the same object. Keras 3.8+'s MultiHeadAttention reads the masks of its query, value and key,
then clears them on those objects: a call that Keras runs after it and that reads the mask of
one of them from the tensor finds none (a second attention over the same sequence, a merge
with it: in a stack of transformer blocks, the second block attends to the padding). A mask
Keras recorded in the config as the call's own `mask=` argument is passed explicitly and
stays. Which calls run after it is Keras's order (keras.src.ops.function.map_graph): by
depth from the outputs, the deepest first, and in the order the graph walk met them within
one depth: the builder writes a model's calls in that order where masks are cleared.

Several tensors of the graph can be one object: a Dropout at inference returns the object it
is called on, and a nested model hands its layers the objects it is called on. Clearing one
clears the others (`ClearedMasks`), checked against Keras on both backends.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph import Call, Ref
from .calls import recorded_masks

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
    started: set[CallKey] = set()  # on the walk's current path: met again there, a call reads its own output

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
            if current in started:  # a cycle (a crafted config): left out here, refused as never ready by the caller
                continue
            started.add(current)
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


class ClearedMasks:
    """Which tensors' Keras masks a MultiHeadAttention has cleared (Keras 3.8+), as a model's calls are built in
    Keras's run order. Keras keeps a mask on the tensor object, so this follows objects: a Dropout (at inference),
    an Identity or a cast to the tensor's own dtype returns the object it is called on, and a nested model hands
    its layers the objects it is called on (clearing them for the calls after it)."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.objects: dict[Ref, Ref] = {}  # a tensor -> the first tensor of its object
        self.state: dict[Ref, bool] = {}  # an object -> True: its mask cleared; False: set again after that

    def object(self, ref: Ref) -> Ref:
        return self.objects.get(ref, ref)

    def same_object(self, ref: Ref, as_ref: Ref) -> None:
        """`ref` is the tensor object `as_ref` is."""
        self.objects[ref] = self.object(as_ref)

    def finds_cleared(self, call: Call, ref: Ref) -> bool:
        """Whether `call` finds the mask of `ref` cleared (a mask the config gives the call as its own `mask=`
        is passed explicitly and stays)."""
        return self.state.get(self.object(ref)) is True and not isinstance(call.kwargs.get("mask"), tuple)

    def mark(self, refs: list[Ref], cleared: bool) -> None:
        """The masks of `refs`' objects cleared, or set again (a nested model called with `mask=` sets it)."""
        if self.active:
            self.state.update((self.object(ref), cleared) for ref in refs)

    def effects(self, inputs: list[Ref], outputs: list[Ref]) -> ObjectEffects:
        """What a model's calls did to the objects of its `inputs`, once all have run."""
        objects = [self.object(ref) for ref in inputs]
        return ObjectEffects([self.state.get(found) for found in objects],
                             [objects.index(self.object(ref)) if self.object(ref) in objects else None
                              for ref in outputs])

    def called_model(self, call: Call, effects: ObjectEffects, same_objects: list[bool]) -> None:
        """A call of a nested model with `effects`, on tensor objects it gets as they are where `same_objects`
        says so (not cast nor reshaped): Keras sets the masks recorded as its `mask=` on them, then its layers
        clear or set them, and an output that is one of them is that object."""
        recorded = recorded_masks(call) or []
        for index, (ref, same_object) in enumerate(zip(call.args, same_objects)):
            if same_object and index < len(recorded) and isinstance(recorded[index], tuple):
                self.mark([ref], cleared=False)
            if same_object and effects.input_masks[index] is not None:
                self.mark([ref], cleared=bool(effects.input_masks[index]))
        for index, input_index in enumerate(effects.output_objects):
            if input_index is not None and same_objects[input_index]:
                self.same_object((call.layer.name, call.node, index), call.args[input_index])


@dataclass
class ObjectEffects:
    """What a model's calls do to the tensor objects it is called on."""

    input_masks: list[bool | None]  # each input's mask: cleared (True), set again (False) or left (None)
    output_objects: list[int | None]  # each output: the input whose object it is, if one is


def cleared_by(call: Call, kind_name: str) -> list[Ref]:
    """The tensors whose masks a call of a layer of `kind_name` clears: a MultiHeadAttention's query, value and
    key."""
    if kind_name != _CLEARING:
        return []
    found = [item for item in call.positional[:3] if isinstance(item, tuple)]
    return found + [call.kwargs[name] for name in ("query", "value", "key") if isinstance(call.kwargs.get(name), tuple)]
