"""What a conversion produces: the PyTorch module of each layer, its tensors, and the record.

These are the types rules make and the record, `inspect`, matching, loading and the module
builder read. `TorchModule` is the one description of the module a layer's weights load
into: made once by the layer's rule, shown by `display()`, written as source by
`source()`, paired by `family`; it is never a string to be parsed back.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .dtypes import FLOATING, cast_array
from .errors import ConversionWarning
from .graph import FileRegion, Filled, Layer, ModelGraph, Tensor
from .layouts import Layout, RowFiller, Transform, rows_of
from .source import literal

if TYPE_CHECKING:
    import numpy as np
else:
    from .lazy_numpy import np  # numpy on first use: reading a file's structure needs none

#: Modules of weightport's own runtime (a generated model defines them), not of torch.nn.
HELPER_MODULES = frozenset({"Weight", "Normalization", "LocallyConnected", "EinsumDense"})


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ",".join(str(size) for size in shape) + ")"


@dataclass(frozen=True)
class TorchModule:
    """A PyTorch module: its class, constructor arguments, and named parts when it is a container.

    `kind` is the torch.nn class name (`Linear`, `Conv2d`, `BatchNorm2d`, `LSTM`,
    `MultiheadAttention`, ...) or a weightport helper's (`Weight`, `Normalization`);
    `BatchNorm` when the input rank, hence the class, is not known from the file.
    A container (`Sequential`, `ModuleDict`) has `parts` and no arguments.
    """

    kind: str
    arguments: dict[str, Any] = field(default_factory=dict)
    parts: tuple[tuple[str, TorchModule], ...] = ()

    @property
    def family(self) -> str:
        """What a user's module must be to take these weights: BatchNorm1d/2d/3d are one family."""
        return "BatchNorm" if self.kind.startswith("BatchNorm") else self.kind

    @property
    def name(self) -> str:
        """How the module is called in tables: `nn.Linear`, `Weight`, `nn.Sequential(depthwise=..., ...)`."""
        if self.parts:
            return f"{self._class()}(" + ", ".join(f"{part}={module.name}" for part, module in self.parts) + ")"
        if self.kind == "BatchNorm":
            return "nn.BatchNorm1d/2d/3d"
        return self._class()

    def part(self, name: str) -> TorchModule:
        return dict(self.parts)[name]

    def display(self) -> str:
        """The constructor call as a reader sees it: `nn.Linear(in_features=2000, out_features=32, bias=True)`."""
        if self.parts:
            return f"{self._class()}(" + ", ".join(f"{part}={module.display()}" for part, module in self.parts) + ")"
        return f"{self.name}(" + ", ".join(f"{key}={value!r}" for key, value in self.arguments.items()) + ")"

    def source(self) -> str:
        """The constructor call as generated source (values as checked literals)."""
        if self.parts:
            inner = ", ".join(f"{part}={module.source()}" for part, module in self.parts)
            wrapped = f"OrderedDict({inner})" if self.kind == "Sequential" else f"dict({inner})"
            return f"nn.{self.kind}({wrapped})"
        return f"{self._class()}(" + ", ".join(f"{key}={literal(value)}" for key, value in self.arguments.items()) + ")"

    def helpers(self) -> set[str]:
        """The weightport runtime classes its source needs."""
        own = {self.kind} if self.kind in HELPER_MODULES else set()
        return own.union(*(module.helpers() for _, module in self.parts))

    def record(self) -> dict[str, Any]:
        """The constructor arguments as the record shows them (a container's by part)."""
        if self.parts:
            return {part: module.record() for part, module in self.parts}
        return dict(self.arguments)

    def _class(self) -> str:
        return self.kind if self.kind in HELPER_MODULES else f"nn.{self.kind}"


@dataclass
class TargetTensor:
    """A converted tensor: its key, layout and shape, and how it came from its source."""

    key: str
    source: Tensor
    layout: Layout
    shape: tuple[int, ...]
    transform: str  # as the record shows it: 'none', 'transpose(1,0)', ...
    step: Transform | None = field(default=None, repr=False)
    cast: str | None = None  # the floating dtype it is written in (--dtype), when not its own

    @property
    def dtype(self) -> str:
        return self.cast or self.source.dtype

    def with_key(self, key: str) -> TargetTensor:
        """The same tensor under another key (a renamed or mapped output)."""
        return self if key == self.key else replace(self, key=key)

    def cast_to(self, dtype: str) -> TargetTensor:
        """The same tensor written in floating `dtype` (integers and bools stay as they are)."""
        if self.source.dtype not in FLOATING or self.source.dtype == dtype:
            return self
        return replace(self, cast=dtype, transform=f"{self.transform}, cast {self.source.dtype} -> {dtype}")

    @property
    def region(self) -> FileRegion | None:
        """The file range holding this tensor's bytes as written: its source's, when nothing changes them."""
        unchanged = self.step is None and self.cast is None and math.prod(self.shape) == math.prod(self.source.shape)
        return self.source.region if unchanged else None

    def small_bytes(self, itemsize: int) -> bytes | None:
        """This tensor's bytes as written, made without numpy (for the tensors of a small model) when its
        source is a file range or a created fill, its dtype unchanged, and its transform has a way
        (Transform.apply_bytes). None otherwise."""
        region, loader = self.source.region, self.source.loader
        if self.cast is not None:
            return None
        if isinstance(loader, Filled):
            data = loader.tobytes()
        elif region is not None and region.watch is None:
            region.touch()  # the checks a load starts (a zip member's CRC)
            size = math.prod(self.source.shape) * itemsize
            try:
                with open(region.path, "rb") as handle:
                    handle.seek(region.offset)
                    data = handle.read(size)
            except OSError:
                return None  # the load path says what is wrong, as for any other tensor
            if len(data) != size:
                return None  # a short file: the load path says so
        else:
            return None
        if data is None or self.step is None:
            return data
        return self.step.apply_bytes(data, self.source.shape, itemsize)

    def load(self) -> np.ndarray:
        """Read the source tensor and apply the transform (and the cast)."""
        array = self.source.load()
        array = self.step.apply(array) if self.step else array
        return cast_array(array, self.source.dtype, self.cast) if self.cast else array

    def rows(self) -> RowFiller:
        """Read the source tensor; return a function writing rows start:stop of the result into `out`."""
        array = self.source.load()
        fill = self.step.rows(array) if self.step else rows_of(array)
        if not self.cast:
            return fill
        source, target, stored = self.source.dtype, self.cast, array.dtype

        def cast_rows(start: int, stop: int, out: np.ndarray) -> None:
            band = np.empty(out.shape, stored)
            fill(start, stop, band)
            np.copyto(out, cast_array(band, source, target).reshape(out.shape))

        return cast_rows


@dataclass
class LayerConversion:
    """What a rule made of one layer: the torch module a user would write, and its tensors."""

    layer: Layer
    module: TorchModule
    tensors: list[TargetTensor]
    activation: Any = None  # the Keras activation fused into the layer, applied after it
    warnings: list[str] = field(default_factory=list)
    # Keras semantics the code around the module must honour (explicit padding, output crop,
    # return_sequences, merge_mode, ...): not constructor arguments.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Conversion:
    """The converted graph: tensors under their target keys, per-layer results, the record."""

    graph: ModelGraph
    layout: str  # 'torch' or 'keras'
    tensors: list[TargetTensor]
    layers: list[LayerConversion] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (layer key, Keras class)
    kept: list[tuple[str, str]] = field(default_factory=list)  # without a rule, written as stored
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # what convert() wrote

    def metadata(self) -> dict[str, str]:
        """What every written file records about its convention."""
        return {
            # Hugging Face's loaders (safetensors' torch loader, huggingface_hub) check the framework
            "format": "pt" if self.layout == "torch" else "tf",
            "weightport_source": self.graph.source,
            "weightport_format": self.graph.format,
            "weightport_keras_version": self.graph.keras_version,
            "weightport_layout": self.layout,
        }

    def record(self) -> list[dict[str, Any]]:
        """One entry per tensor: where it came from, where it goes, what was done to it, and
        what the PyTorch module around it needs (its arguments and the layer's warnings)."""
        by_key = {target.key: result for result in self.layers for target in result.tensors}
        entries = []
        for target in self.tensors:
            source = target.source
            result = by_key.get(target.key)
            entries.append({
                "key": target.key,
                "source": source.source,
                "keras_role": source.role,
                "keras_shape": list(source.shape),
                "keras_layout": source.layout.value,
                "target_shape": list(target.shape),
                "target_layout": target.layout.value,
                "transform": target.transform,
                "dtype": source.dtype,
                "layer": result.layer.key if result else None,
                "keras_class": result.layer.class_name if result else None,
                "torch_module": result.module.name if result else None,
                "module_args": result.module.record() if result else {},
                "options": result.options if result else {},
                "activation": result.activation if result else None,
                "warnings": result.warnings if result else [],
            })
        return entries

    def tensor_lines(self) -> list[str]:
        """One line per tensor: key, source path, Keras shape -> written shape, transform (casts included)."""
        return [f"{target.key}  <-  {target.source.source}  {_shape(target.source.shape)} -> {_shape(target.shape)}"
                f"  {target.transform}" for target in self.tensors]

    def warn(self, stacklevel: int = 3) -> None:
        """Each of the conversion's warnings as a Python ConversionWarning (the library's public functions call
        it; `stacklevel` 3 points at their caller)."""
        import warnings

        for message in self.warnings:
            warnings.warn(message, ConversionWarning, stacklevel=stacklevel)

    def __repr__(self) -> str:
        return (f"Conversion({self.graph.source!r}, {self.layout} layout, {len(self.tensors)} tensors, "
                f"{len(self.layers)} layers, {len(self.warnings)} warnings)")
