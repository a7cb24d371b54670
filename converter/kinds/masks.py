"""Which Keras mask a call's outputs carry: Keras's own propagation, for tf.keras and Keras 3.

A mask (`Embedding(mask_zero=True)`, `Masking`) travels with a tensor from layer to layer
and tells recurrent layers, pooling and attention which steps to skip. A layer passes it on
unchanged only where Keras says it `supports_masking` and computes no mask of its own;
every other layer drops it, silently in tf.keras 2 and Keras 3 (a Conv1D, a pooling, a
padding, an EinsumDense). Layers with a `compute_mask` of their own (Embedding, Masking,
the recurrent layers, Bidirectional, attention, merges) set their outputs' masks in their
kind's rule. Keras 3 also records the mask a layer is called with in its config (`mask=`):
the emitter takes a recorded mask tensor; a recorded `null` Keras fills at run time from the
mask its input carries, as the emitter does.

The sets are Keras's `supports_masking = True` layers (tf_keras 2.x and Keras 3 sources).
"""
from __future__ import annotations

from dataclasses import replace

from .forward import Value

_BOTH = {"Activation", "ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax", "Dense", "BatchNormalization",
         "GroupNormalization", "LayerNormalization", "UnitNormalization", "ActivityRegularization", "AlphaDropout",
         "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout", "GaussianNoise",
         "MultiHeadAttention"}
#: layers that carry their first input's mask to their outputs unchanged, by Keras major version
PASSING = {
    2: {f"keras.layers.{name}" for name in _BOTH | {"ThresholdedReLU"}},
    3: {f"keras.layers.{name}" for name in _BOTH | {"Identity", "Normalization", "Rescaling", "GroupQueryAttention"}},
}
#: layers whose kind's rule sets the masks of their outputs (their own compute_mask)
OWN = {f"keras.layers.{name}" for name in (
    "Embedding", "Masking", "LSTM", "GRU", "SimpleRNN", "RNN", "CuDNNLSTM", "CuDNNGRU", "ConvLSTM1D", "ConvLSTM2D",
    "ConvLSTM3D", "Bidirectional", "Attention", "AdditiveAttention", "Concatenate", "Add", "Subtract", "Multiply",
    "Average", "Maximum", "Minimum", "TimeDistributed", "SpectralNormalization", "ReversibleEmbedding")} | {
    "keras_hub.layers.TokenAndPositionEmbedding", "keras_hub.layers.ReversibleEmbedding"}


def carried(kind_name: str, keras_major: int, inputs: list[Value], produced: list[Value],
            returns_input: bool = False) -> list[Value]:
    """`produced` (a call's outputs) with the masks Keras gives them. An operation that returned its input tensor
    itself (`returns_input`: Keras keeps a mask as an attribute of the tensor object) leaves its mask on it."""
    if kind_name in OWN:
        return produced
    passing = PASSING[2 if keras_major < 3 else 3]
    mask = inputs[0].mask if inputs and (kind_name in passing or returns_input) else None
    # Keras pairs the one mask with the first output; the others keep the mask their rule gave them (the scores a
    # MultiHeadAttention returns carry its attention mask from Keras 3.11 on, none before)
    masks = [mask] + [value.mask for value in produced[1:]]
    return [value if value.mask == want else replace(value, mask=want) for value, want in zip(produced, masks)]


#: from which Keras 3 a layer called on a list of tensors (the merges, Attention) gives its outputs masks: Keras 3.0
#: to 3.3 asked its compute_mask with the first argument's `_keras_mask`, which a list has not: none (Keras's sources)
LIST_CALL_MASKS_FROM = (3, 4)
#: from which Keras 3 Multiply, Maximum and Minimum fill their inputs' masked steps before merging
MASKED_MERGES_FROM = (3, 4)


def list_call_masks(keras_version: tuple[int, int], called_on_list: bool, produced: list[Value]) -> list[Value]:
    """`produced` without masks where Keras 3.0 to 3.3 gave a call on a list of tensors none."""
    if not called_on_list or not (3, 0) <= keras_version < LIST_CALL_MASKS_FROM:
        return produced
    return [replace(value, mask=None) if value.mask is not None else value for value in produced]


#: Keras 3.0 to 3.13 cast a layer's floating input to the layer's compute dtype as a new tensor without the
#: input's mask: the layer runs unmasked and its outputs carry no mask (3.14 sets the mask on the cast tensor).
#: A mask the config records for the call (`mask=`, Keras 3.0 to 3.9) still reaches it: Keras 3.0 to 3.4 cast a
#: symbolic input in place, so building the model recorded the mask there, unless the input came from a nested
#: model (whose symbolic outputs carry none) or the call had several tensor arguments.
CAST_KEEPS_MASK_FROM = (3, 14)
CAST_IN_PLACE_UNTIL = (3, 5)  # Keras 3.0 to 3.4 cast a symbolic tensor in place (it keeps its mask there)


def cast_input(keras_version: tuple[int, int], value: Value, cast: Value, recorded: bool = False) -> Value:
    """`cast`, the layer's input `value` cast to the layer's compute dtype, with the mask Keras gives it. A call
    that records masks (`recorded`) in a file of Keras 3.0 to 3.4 runs with them: its input keeps its mask (those
    Keras recorded the mask the input had before the cast; a list's masks reach the layer only so)."""
    if cast is value or not (3, 0) <= keras_version < CAST_KEEPS_MASK_FROM:
        return cast
    if recorded and keras_version < CAST_IN_PLACE_UNTIL:
        return cast
    return replace(cast, mask=None)


def merged_mask(keras_major: int, masks: list[str | None]) -> str | None:
    """The mask of an elementwise merge (Add, Multiply, ...) of inputs with `masks`: tf.keras keeps the steps every
    masked input keeps (AND over the masked ones), Keras 3 those any input keeps, and none where an input has
    none."""
    present = [mask for mask in masks if mask is not None]
    if not present or (keras_major >= 3 and len(present) < len(masks)):
        return None
    return f"({' & '.join(present)})" if keras_major < 3 else f"({' | '.join(present)})"


def concatenated_mask(keras_major: int, inputs: list[tuple[str, str | None]], axis: int) -> str:
    """The mask of a Concatenate of (Keras-layout tensor, mask) inputs, one masked at least, along Keras's `axis`:
    each mask widened to its input (an unmasked input keeps everything), joined along the axis, then reduced over
    the last one: every part kept (tf.keras) or any part (Keras 3)."""
    parts = []
    for tensor, mask in inputs:
        if mask is None:
            parts.append(f"torch.ones_like({tensor}, dtype=torch.bool)")
        elif keras_major < 3:
            parts.append(f"{mask}.unsqueeze(-1)")  # (batch, steps, 1): broadcast by the reduction that follows
        else:
            parts.append(f"{mask}.unsqueeze(-1).expand_as({tensor})")
    reduce = "all" if keras_major < 3 else "any"
    return f"torch.cat([{', '.join(parts)}], dim={axis}).{reduce}(-1)"


def time_distributed_mask(keras_major: int, input_mask: str | None, step_mask: str | None,
                          source: str) -> str | None:
    """The mask of a TimeDistributed's output. `input_mask` is the one its input (`source`, in Keras's layout)
    carries, `step_mask` the one the wrapped layer gives its output with time folded into the batch. Keras 3
    passes the input's on unchanged. tf.keras gives the wrapped layer's back per time step, or, where that
    layer computes none (an LSTM returning its last state, a pooling), whether each time step keeps any entry."""
    if keras_major >= 3:
        return input_mask
    if step_mask is not None:
        return f"{step_mask}.unflatten(0, ({source}.shape[0], {source}.shape[1]))"
    if input_mask is not None:
        return f"{input_mask}.reshape({input_mask}.shape[0], {input_mask}.shape[1], -1).any(-1)"
    return None
