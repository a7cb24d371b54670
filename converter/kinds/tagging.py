"""Tagging: each tensor of a graph gets its role and Keras layout from its layer's kind."""
from __future__ import annotations

import re

from ..config import quantization_mode
from ..errors import LayoutError
from ..graph import Layer, ModelGraph
from ..keras_names import to_snake_case
from ..layouts import RANKS, THEANO_KERNELS, Layout
from .registry import distinct, lookup
from .rules import Variable


def tag_graph(graph: ModelGraph) -> None:
    """Name each tensor's role and set its Keras layout from the kind of its layer.

    For layers read without a config, the class is first resolved from the snake-case
    name the file gave it (`batch_normalization_2` -> BatchNormalization).
    """
    by_snake_name: dict[str, str] | None = None  # every kind's module imported: only for a file without config
    backend = graph.metadata.get("backend")
    theano = backend == "theano"
    for layer in graph.walk():
        if backend in _PADDED_OTHERWISE:
            _refuse_other_same_padding(layer, _PADDED_OTHERWISE[backend])
        named = layer.class_name
        if not layer.has_config:
            if by_snake_name is None:
                by_snake_name = {to_snake_case(k.class_name): k.class_name for k in distinct() if k.weighted}
            layer.class_name = by_snake_name.get(layer.class_name, layer.class_name)
        found = lookup(layer)
        if found is None or found.variables is None:
            continue
        expected = found.variables(layer.config)
        if layer.tensors and not expected and layer.has_config and found.unsupported(layer):
            continue  # variables of a form its rule does not build (stacked cells of two kinds): refused by name
        if layer.tensors and not layer.has_config and not _fits(layer, expected):
            # named like a Keras class whose variables (by default) these are not: a wrapper, whose inner layer
            # only the config names, or a layer of the user's own of that name: left without a rule (its
            # tensors still export as stored, and the error names it and asks for --architecture)
            layer.class_name = named
            continue
        if layer.tensors:
            if found.stored_order is not None and layer.has_config:
                found.stored_order(layer)
            try:
                _tag_layer(layer, expected, found.quantized)
            except LayoutError:
                if layer.has_config and found.unsupported(layer):
                    continue  # a form its rule does not build, whose tensors differ too: refused by name after
                raise
            if theano:
                _trained_on_theano(layer)
        elif layer.has_config and expected:
            # A weighted layer kind whose weights the file does not hold: never a silent gap.
            why = ("is the architecture given the model these weights were saved from?"
                   if graph.metadata.get("architecture") == "given" else "was the model built before it was saved?")
            raise LayoutError(f"{graph.source}: layer {layer.key} ({layer.class_name}) has no weights in the file; "
                              f"expected {_roles(expected)}; {why}")


def _tag_layer(layer: Layer, expected: list[Variable], quantized: tuple[str, ...] = ()) -> None:
    """Match the layer's tensors to the rule's variables.

    Keras 3 files say where each variable is stored (`cell/vars/1`): matched by path.
    Legacy files and live models list variables in creation order with their names:
    matched in order, each name checked. Without a config, optional variables may be
    absent (a Dense without bias), so names alone decide there.
    """
    where = f"{layer.tensors[0].source.rsplit('/', 1)[0]}: layer {layer.key} ({layer.class_name})"
    mode = quantization_mode(layer.config) if layer.has_config else None
    if mode is not None and mode not in quantized:
        supported = f"; weightport dequantizes {', '.join(quantized)} only" if quantized else ""
        raise LayoutError(f"{where}: the layer is {mode}-quantized (Keras 3 model.quantize: {mode} weights and their "
                          f"scales), which weightport does not dequantize for this kind{supported}: convert the model "
                          "saved before quantizing, or pass --layout keras to export the stored tensors as they are")
    by_path = {variable.store_path: variable for variable in expected}
    matched: list[Variable] = []
    if all("vars/" in tensor.role for tensor in layer.tensors):
        for tensor in layer.tensors:
            # tf.keras 2's `.keras` writer names sublayers by their private attributes (`_query_dense/vars/0`)
            role = tensor.role if tensor.role in by_path else _public(tensor.role)
            if role not in by_path:
                int8 = any(other.dtype == "int8" for other in layer.tensors)
                if int8 and ("int8" not in quantized or not layer.has_config):
                    raise LayoutError(f"{where}: holds int8 tensors ({tensor.role}...): it or its sublayers are "
                                      "quantized (Keras 3 model.quantize), which weightport does not dequantize "
                                      "here (for this kind, or without the model's config: pass --architecture): "
                                      "convert the model saved before quantizing, or pass --layout keras to export "
                                      "the stored tensors as they are")
                raise LayoutError(f"{where}: unexpected tensor {tensor.role}; expected {_roles(expected)}")
            matched.append(by_path[role])
    elif all("/" in tensor.role for tensor in layer.tensors):
        # a TF checkpoint's variables of sublayers of alike names (a Bidirectional's forward_layer/cell/kernel and
        # backward_layer/cell/kernel, listed alphabetically): by the sublayer path their store path shares
        for tensor in layer.tensors:
            prefix, name = tensor.role.rsplit("/", 1)
            found = [variable for variable in expected  # (the path's leading underscores dropped: its store's too)
                     if _public(variable.store_path.rsplit("vars/", 1)[0]) == prefix + "/"
                     and name in variable.names]
            # (a stack of cells: tf.keras's cell/cells/0/kernel is the variable in role cells/0/kernel)
            found = found or [variable for variable in expected if f"/{tensor.role}".endswith(f"/{variable.role}")]
            if len(found) != 1 or found[0] in matched:
                raise LayoutError(f"{where}: unexpected tensor {tensor.role}; expected {_roles(expected)}")
            matched.append(found[0])
    elif _unique_names(layer, expected):
        # every tensor names one expected variable: matched by name, whatever the stored order (a
        # checkpoint lists variables alphabetically; Keras 2.0 wrote BatchNormalization's in its own order)
        by_name = {name: variable for variable in expected for name in variable.names}
        matched = [by_name[tensor.role] for tensor in layer.tensors]
    else:
        position = 0
        for tensor in layer.tensors:
            while position < len(expected) and tensor.role not in expected[position].names:
                if layer.has_config:
                    break
                position += 1  # an optional variable this weights-only file does not have
            if position == len(expected) or tensor.role not in expected[position].names:
                raise LayoutError(
                    f"{where}: tensors {[t.role for t in layer.tensors]} do not match the "
                    f"expected {_roles(expected)}" + (KERAS1_HINT if keras1_weight_name(layer, tensor.role) else "")
                )
            matched.append(expected[position])
            position += 1
    missing = [variable.role for variable in expected if variable not in matched and not variable.optional]
    if missing and layer.has_config:
        raise LayoutError(f"{where}: missing tensors {missing}; expected {_roles(expected)}")
    for tensor, variable in zip(layer.tensors, matched):  # every tensor checked before any is tagged
        ranks = RANKS.get(variable.layout)
        if ranks is not None and (len(tensor.shape) not in ranks or 0 in tensor.shape):
            raise LayoutError(f"{tensor.source}: {variable.role} of layer {layer.key} ({layer.class_name}) has shape "
                              f"{tensor.shape}, where Keras stores one of {' or '.join(map(str, ranks))} axes, none "
                              "empty: the file is damaged, or was not written by Keras")
    for tensor, variable in zip(layer.tensors, matched):
        tensor.role, tensor.layout = variable.role, variable.layout


#: kernels Keras 2's Theano backend also applied as a true convolution, but which Keras's own loader never flipped
#: when it moved a Theano file to TensorFlow: which way they hold cannot be told from Keras, so refused
_THEANO_UNSURE = (Layout.KERAS_DEPTHWISE1D_WIM, Layout.KERAS_DEPTHWISE2D_HWIM)


def _trained_on_theano(layer: Layer) -> None:
    """A Theano-trained layer's convolution kernels take the flipped layout they hold (their rule's transform
    then flips them, as Keras 2.2's loader did for TensorFlow)."""
    for tensor in layer.tensors:
        if tensor.layout in THEANO_KERNELS:
            tensor.layout = THEANO_KERNELS[tensor.layout]
        elif tensor.layout in _THEANO_UNSURE:
            raise LayoutError(f"{tensor.source}: layer {layer.key} ({layer.class_name}) was trained with Keras's "
                              "Theano backend, which applies a depthwise kernel as a convolution (flipped), but "
                              "Keras's own loader never flipped these when it moved such a file to TensorFlow: "
                              "which way this one holds cannot be told, so it is refused, not guessed")


def _sizes(value: object) -> list[int]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return [size for size in values if type(size) is int]


#: Keras 2 backends whose 'same' padding sits otherwise than TensorFlow's and PyTorch's (CNTK's computes as
#: Theano's: keras-team/keras-applications#27 and keras-team/keras#9473 found their outputs equal, TensorFlow's not)
_PADDED_OTHERWISE = {"theano": "Theano", "cntk": "CNTK"}


def _refuse_other_same_padding(layer: Layer, backend: str) -> None:
    """Refuse a Theano- (or CNTK-) trained convolution or pooling whose 'same' padding that backend placed otherwise
    than TensorFlow and PyTorch: Keras's Theano backend padded k // 2 on both sides (a pooling window - 1), then cut
    the output to ceil(size / stride); TensorFlow pads what is missing, the larger half after. They agree for a
    convolution of stride 1 and odd kernel only."""
    if not layer.has_config or layer.config.get("padding") != "same":
        return
    name = layer.class_name
    if "Pooling" in name and "Global" not in name and "Adaptive" not in name:
        odd = any(size > 1 for size in _sizes(layer.config.get("pool_size")))
    elif name.startswith(("Conv", "SeparableConv", "DepthwiseConv")) and "LSTM" not in name:
        odd = (any(size > 1 for size in _sizes(layer.config.get("strides", 1)))
               or any(size % 2 == 0 for size in _sizes(layer.config.get("kernel_size")))
               or any(size > 1 for size in _sizes(layer.config.get("dilation_rate", 1))))
    else:
        return
    if odd:
        raise LayoutError(f"layer {layer.key} ({name}) was trained with Keras's {backend} backend, whose 'same' "
                          "padding of a stride above 1, an even window or a dilation sits otherwise than TensorFlow's "
                          f"and PyTorch's ({backend} padded both sides alike, then cut the end): not converted")


def _public(path: str) -> str:
    """A path of attributes without their leading underscores (`_query_dense/vars/0` -> `query_dense/vars/0`):
    tf.keras's writers and TF checkpoints name sublayers by their private attributes, Keras 3 mostly not."""
    return re.sub(r"(^|/)_+", r"\1", path)


def _fits(layer: Layer, expected: list[Variable]) -> bool:
    """Whether some tensor of the layer is one of the `expected` variables, by name or by where Keras 3 keeps it."""
    known = {name for variable in expected for name in variable.names} | {v.store_path for v in expected}
    return any(tensor.role in known for tensor in layer.tensors)


def _unique_names(layer: Layer, expected: list[Variable]) -> bool:
    """Each tensor's name is the name of exactly one expected variable, and no two tensors share one."""
    owners: dict[str, list[Variable]] = {}
    for variable in expected:
        for name in variable.names:
            owners.setdefault(name, []).append(variable)
    roles = [tensor.role for tensor in layer.tensors]
    return len(set(roles)) == len(roles) and all(len(owners.get(role, [])) == 1 for role in roles)


KERAS1_HINT = ("; these are Keras 1's weight names (`dense_1_W`), in a file that records neither a Keras 1 version "
               "nor a Keras 1 model config: pass --architecture with the model's to_json() (Keras 1 code saved it "
               "beside such weights, as model.json; it records the Keras 1 version)")


def keras1_weight_name(layer: Layer, role: str) -> bool:
    """Keras 1 named weights after their layer (`dense_1_W`): a file without a version saying so."""
    return role.startswith(f"{layer.name}_")


def _roles(variables: list[Variable]) -> str:
    return ", ".join(variable.role for variable in variables) or "none (no tensors for this configuration)"


