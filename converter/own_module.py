"""Verifying the user's own PyTorch module (after load_into) against Keras, per layer where pairable.

The layers compared are those whose weights `load_into` pairs with a submodule (by key, a
`mapping`, or "order"): a forward hook on that submodule captures its output, compared with
the Keras layer's. Outputs that do not have the Keras layer's shape after the image axes are
moved back (a torch LSTM returning every step where Keras returns the last) are listed as
skipped, not judged. A Keras layer's fused activation (`Dense(64, activation="relu")`) is
applied, with Keras's own function, to the output of the nn.Linear or convolution paired
with it: torch's modules leave the activation to the forward that calls them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .conversion import Conversion
from .matching import plan, source_units, target_units_from_module
from .renaming import Mapping


def paired_submodules(module: Any, conversion: Conversion, mapping: Mapping) -> dict[str, list[Any]]:
    """Keras layer name -> the submodules of `module` its weights load into (a SeparableConv2D's depthwise and
    pointwise convolutions, an attention's four projections: several)."""
    layer_of = {target.key: result.layer.name for result in conversion.layers for target in result.tensors
                if len(result.layer.path) == 1}  # the model's own layers: Keras gives their outputs, by name (a
    # layer inside a nested model or your own layer may have an outer layer's name)
    submodules = dict(module.named_modules())
    pairs: dict[str, list[Any]] = {}
    for row in plan(source_units(conversion), target_units_from_module(module), mapping).rows:
        if row.status != "load" or row.source is None or row.target_key is None:
            continue
        path = row.target_key.rpartition(".")[0]
        layer = layer_of.get(row.source.key)
        if layer is not None and path in submodules and submodules[path] not in pairs.setdefault(layer, []):
            pairs[layer].append(submodules[path])
    for custom in conversion.graph.custom_layers():  # your own layer: your module at its path computes it
        if len(custom.path) == 1 and custom.key in submodules and not pairs.get(custom.name):
            pairs[custom.name] = [submodules[custom.key]]
    return pairs


class Capture:
    """Forward hooks keeping, by Keras layer name, the first output (detached) of whichever of its submodules
    runs last: the layer's own output (a separable convolution's pointwise one, an attention's output projection),
    and that submodule in `producers`."""

    def __init__(self, pairs: dict[str, list[Any]]) -> None:
        self.values: dict[str, Any] = {}
        self.producers: dict[str, Any] = {}
        self._ran: set[int] = set()  # submodules seen once (a shared one's later calls are other layers' calls)
        self.handles = [submodule.register_forward_hook(self._hook(name)) for name, submodules in pairs.items()
                        for submodule in submodules]

    def _hook(self, name: str) -> Any:
        def keep(module: Any, _inputs: Any, output: Any) -> None:
            while isinstance(output, (tuple, list)) and output:
                output = output[0]  # nn.LSTM: (outputs, (h, c)) -> outputs
            if hasattr(output, "detach") and id(module) not in self._ran:
                self._ran.add(id(module))
                self.values[name], self.producers[name] = output.detach(), module
        return keep

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


#: torch modules that compute no activation, paired with Keras layers that may fuse one
PLAIN_MODULES = ("Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")


#: torch modules whose outputs are channels-first (N, C, ...) whatever layout the module as a whole takes
CHANNELS_FIRST_MODULES = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
                          "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
                          "InstanceNorm3d")


def _torch_module(submodule: Any, names: tuple[str, ...]) -> bool:
    return type(submodule).__name__ in names and type(submodule).__module__.startswith("torch.nn")


def with_fused_activation(keras_layer: Any, submodule: Any, value: np.ndarray) -> np.ndarray:
    """`value` (a plain torch module's output, in Keras's layout) with the Keras layer's own activation applied,
    as the Keras layer computes it; unchanged for other modules or layers without one."""
    function = getattr(keras_layer, "activation", None)
    if not _torch_module(submodule, PLAIN_MODULES) or not callable(function):
        return value
    return np.asarray(function(value))


def keras_layout(value: Any, channels_first: bool, expected_ndim: int, submodule: Any = None,
                 keras_layer: Any = None) -> np.ndarray:
    """A captured torch value as Keras lays it out. A torch convolution or normalization returns channels
    first, whatever layout your module takes (one taking Keras's channels-last input permutes before it; a
    Conv1d's (N, C, T) is Keras's (N, T, C)): moved last unless the Keras layer is channels-first too. Another
    module's output: channels moved last for images when the module takes the torch layout."""
    array = value.float().cpu().numpy() if value.dtype.is_floating_point else value.cpu().numpy()
    if _torch_module(submodule, CHANNELS_FIRST_MODULES):
        return np.moveaxis(array, 1, -1) if array.ndim >= 3 and not _channels_first(keras_layer) else array
    if channels_first and array.ndim in (4, 5) and expected_ndim == array.ndim:
        array = np.moveaxis(array, 1, -1)
    return array


def _channels_first(keras_layer: Any) -> bool:
    """A Keras layer computing channels-first: data_format='channels_first', or BatchNormalization(axis=1)."""
    if getattr(keras_layer, "data_format", None) == "channels_first":
        return True
    axis = getattr(keras_layer, "axis", None)
    return axis == 1 or (isinstance(axis, (list, tuple)) and list(axis) == [1])
