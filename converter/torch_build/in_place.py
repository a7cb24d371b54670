"""Tensors that Keras 3's torch backend changed in place, and the calls that saw the change.

Keras 3.0 to 3.14's GlobalAveragePooling1D multiplies a masked input by its mask with `inputs *= mask`, and
Keras 3.0 to 3.12's Softmax adds the mask's large negatives with `inputs += adder`. On TensorFlow and JAX that
makes a new tensor; on torch it changes the tensor object the layer was handed, so every call that Keras runs
after it and that reads that object finds the masked steps zeroed (or pushed to -1e9): an Embedding with
mask_zero=True read by a GlobalAveragePooling1D and then by a GlobalMaxPooling1D, a common text model, was
0.21 off. The module follows: in Keras's run order (run_order.py), the object's value is the changed one for
the calls after.

torch also shares storage between a tensor and its views (a reshape, a permute, a slice), which a change in
place reaches too; that is not followed. Where a view may be read after the change (made before it, by a call
not known to compute a new tensor, of the changed object or of what that object is maybe a view of, and read by
a call after it or returned by the model; or the changed object is a nested model's input, which its caller
holds), the model is refused by name. A view made after the change is made of the changed value, as in Keras.
"""
from __future__ import annotations

from dataclasses import replace

from ..errors import UnsupportedLayerError
from ..graph import Call, Ref
from ..kinds.forward import KERAS, SavedBy, Value, torch_changes_input
from .emitter import ClassSource
from .run_order import ClearedMasks

#: the first Keras whose torch backend changes no layer's input in place
IN_PLACE_UNTIL = (3, 15)

#: kinds whose call Keras's torch backend computes into a new tensor (never a view of, or, its input)
_FRESH = frozenset(f"keras.layers.{name}" for name in (
    "Dense", "EinsumDense", "Embedding", "Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D",
    "DepthwiseConv1D", "DepthwiseConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "LSTM", "GRU",
    "SimpleRNN", "Bidirectional", "BatchNormalization", "LayerNormalization", "GroupNormalization",
    "RMSNormalization", "UnitNormalization", "Masking", "Concatenate", "Add", "Subtract", "Multiply", "Average",
    "Maximum", "Minimum", "Dot", "Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention",
    "GlobalAveragePooling1D", "GlobalMaxPooling1D", "MaxPooling1D", "AveragePooling1D", "ReLU", "LeakyReLU", "PReLU",
    "ELU", "ThresholdedReLU", "Softmax", "Activation", "Rescaling", "Normalization", "UpSampling1D",
    "ZeroPadding1D", "RepeatVector", "LocallyConnected1D", "ConvLSTM1D",
))  # (a linear Activation returns its input object: that is followed as the object, not as a view)


_MERGES = frozenset(f"keras.layers.{name}" for name in ("Add", "Subtract", "Multiply", "Average", "Maximum",
                                                       "Minimum", "Concatenate"))


class InPlace:
    """The calls of one model as they are written, in Keras's run order, and the changes in place among them."""

    def __init__(self, keras: SavedBy, source_name: str, calls: list[Call], input_refs: list[Ref],
                 output_refs: list[Ref], root: bool) -> None:
        self.active = torch_changes_input(keras, IN_PLACE_UNTIL)
        self.source_name = source_name
        self.calls = calls
        self.producers = {(call.layer.name, call.node): call for call in calls}
        self.input_refs = input_refs
        self.output_refs = output_refs
        self.root = root
        self.ran: dict[int, str | None] = {}  # id of each call written so far -> its kind (None: a model)

    def ran_call(self, call: Call, kind_name: str | None) -> None:
        if kind_name in _MERGES and len(call.refs()) < 2:  # a merge of one tensor returns that tensor itself
            kind_name = None
        self.ran[id(call)] = kind_name

    def changed(self, call: Call, ref: Ref, changed: Value, values: dict[Ref, Value], source: ClassSource,
                clearing: ClearedMasks) -> None:
        """`call` changed the tensor object of its input `ref` to `changed`: the calls written after it read that."""
        obj = clearing.object(ref)
        outputs: dict[tuple[str, int], list[Ref]] = {}  # each call written so far -> its outputs
        for written in values:
            outputs.setdefault(written[:2], []).append(written)
        why = self._unsure(call, obj, clearing, outputs)
        if why:
            raise UnsupportedLayerError(
                f"{self.source_name}: layer {call.layer.key} ({call.layer.class_name}): Keras's torch backend before "
                f"3.15 changed its input tensor in place (its masked steps), and {why}: which values saw the change "
                "depends on torch's storage sharing, which weightport does not follow; the weights convert "
                "(weightport convert)", [(call.layer.key, call.layer.class_name)])
        name = source.local_names.name(f"{source.value(obj[0], obj[1])}_changed")
        source.forward.append(f"{name} = {changed.expr}")
        for other in list(values):
            if clearing.object(other) == obj:
                values[other] = replace(values[other], expr=name, layout=KERAS, flat_order=None)

    def _unsure(self, call: Call, obj: Ref, clearing: ClearedMasks,
                outputs: dict[tuple[str, int], list[Ref]]) -> str | None:
        """Why the change may reach tensors other than the object's own (None: it cannot)."""
        if not self.root and obj in {clearing.object(ref) for ref in self.input_refs}:
            return "that tensor is an input of a nested model, which its caller holds too"
        producer = self.producers.get(obj[:2])
        if producer is not None and self.ran.get(id(producer)) not in _FRESH:  # maybe a view of what it read
            if any(self._read_later(clearing.object(ref), clearing, outputs, set()) for ref in producer.refs()):
                return f"that tensor was made by {producer.layer.key} ({producer.layer.class_name}), maybe as a view"
        for earlier in self.calls:
            if earlier is call or id(earlier) not in self.ran or self.ran[id(earlier)] in _FRESH or not any(
                    clearing.object(ref) == obj for ref in earlier.refs()):
                continue
            made = outputs.get((earlier.layer.name, earlier.node), [])
            # a Dropout at inference, an Identity, a nested model handing it back: the object itself, not a view
            if all(clearing.object(ref) != obj for ref in made) and any(
                    self._read_later(clearing.object(ref), clearing, outputs, set()) for ref in made):
                return f"{earlier.layer.key} ({earlier.layer.class_name}) read it before, maybe as a view"
        return None

    def _read_later(self, obj: Ref, clearing: ClearedMasks, outputs: dict[tuple[str, int], list[Ref]],
                    seen: set[Ref]) -> bool:
        """Whether a call not yet written, or the model's outputs, read tensor object `obj`, or a view a call that
        is not known to make a new tensor may have made of it (a view of a view reaches it too)."""
        if obj in seen:  # reached by another path: answered there
            return False
        seen.add(obj)
        if any(clearing.object(ref) == obj for ref in self.output_refs):
            return True
        for call in self.calls:
            if not any(clearing.object(ref) == obj for ref in call.refs()):
                continue
            if id(call) not in self.ran:
                return True
            if self.ran[id(call)] not in _FRESH and any(
                    self._read_later(clearing.object(ref), clearing, outputs, seen)
                    for ref in outputs.get((call.layer.name, call.node), [])):
                return True
        return False
