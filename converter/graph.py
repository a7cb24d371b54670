"""The neutral model graph that readers produce and rules consume.

Readers fill it from a file (or a live model) without knowing anything about PyTorch;
`converter.layers.tag_graph` then names each tensor's role and layout from the rule
registry. Tensors are lazy: `Tensor.load()` reads the array only when asked.
"""
from __future__ import annotations

import math
import re
import struct
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from .config import Config
from .errors import LayoutError
from .keras_names import key_name, qualified_name
from .layouts import Layout

if TYPE_CHECKING:
    import numpy as np

    from .lambda_expressions import LambdaExpression
else:
    from .lazy_numpy import np  # numpy on first use: reading a file's structure needs none

#: numpy has no bfloat16: bfloat16 tensors travel as their uint16 bit patterns,
#: with `Tensor.dtype == BFLOAT16` saying how to read them.
BFLOAT16 = "bfloat16"
#: the class of a group of variables read without a Keras layer (a checkpoint without architecture)
RAW_VARIABLES = "Variables"


def minor_version(version: str) -> tuple[int, int] | None:
    """(major, minor) of a Keras version string ("3.8.0" -> (3, 8)); None when it names none."""
    match = re.match(r"(\d+)(?:\.(\d+))?", version)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None


#: the config key of a BatchNormalization normalizing by the statistics of the batch it is given, at inference too
#: (Keras 1's mode 2): weightport's own, not a Keras argument (readers/keras1.py sets it, keras_meant.py takes it out)
BATCH_STATISTICS = "weightport_batch_statistics"


#: the version of a legacy .h5 that records none: Keras 2.0 on record theirs, so Keras 1 or another writer of Keras 2's
#: layout; built as Keras 2 computes (hard_sigmoid is 0.2x + 0.5 there)
UNRECORDED_VERSION = "2.x (not stored: before Keras 2.0, or another writer)"


def built_version(version: str) -> tuple[int, int]:
    """The Keras version a model is built as computing: minor_version's, or today's (3, 99) where the file does not
    say (a .weights.h5)."""
    return minor_version(version) or (3, 99)


@dataclass(frozen=True)
class FileRegion:
    """A loader whose array is, byte for byte, a range of a plain file: little-endian, C order.

    A writer may then copy the range file to file (the kernel copies; nothing passes through
    the process). `touch()` starts the checks a load would start (a tensor's checksum, a zip
    member's CRC). A reader may offer `watch()` instead: a Watcher the writer hands every byte
    as it copies them through the process, so that a check reads them once, not twice (None
    when the checks have started already). Being the loader itself, the region goes wherever
    the loader is replaced.
    """

    path: str
    offset: int
    load: Callable[[], np.ndarray]
    touch: Callable[[], None]
    watch: Callable[[], Watcher | None] | None = None

    def __call__(self) -> np.ndarray:
        return self.load()


#: struct codes of the dtypes a created tensor may have (bfloat16: the top half of float32's bits)
_STRUCT_CODES = {"float16": "e", "float32": "f", "float64": "d", "int8": "b", "uint8": "B", "int16": "h",
                 "uint16": "H", "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "bool": "?"}


@dataclass(frozen=True)
class Filled:
    """The loader of a tensor weightport creates (a second RNN bias, a counter): `value` everywhere."""

    shape: tuple[int, ...]
    value: float
    dtype: str  # a numpy dtype name, or BFLOAT16 (carried as the top half of the float32 bits)

    def __call__(self) -> np.ndarray:
        if self.dtype == BFLOAT16:
            return (np.full(self.shape, self.value, np.float32).view(np.uint32) >> 16).astype(np.uint16)
        return np.full(self.shape, self.value, np.dtype(self.dtype))

    def tobytes(self) -> bytes | None:
        """The bytes of __call__()'s array, little-endian, without numpy; None for a dtype it does not know."""
        if self.dtype == BFLOAT16:
            item = struct.pack("<f", self.value)[2:]
        elif self.dtype in _STRUCT_CODES:
            code = _STRUCT_CODES[self.dtype]
            try:
                item = struct.pack("<" + code, self.value if code in "efd" else int(self.value))
            except (struct.error, OverflowError):
                return None  # out of range for the dtype: numpy's own conversion decides
        else:
            return None
        return item * math.prod(self.shape)


class Watcher(Protocol):
    """What checks a FileRegion's bytes as a writer copies them: every chunk in order, then finish()."""

    def update(self, chunk: np.ndarray) -> None: ...

    def finish(self) -> None: ...


@dataclass
class Tensor:
    """One weight tensor of a layer, read lazily from its source."""

    role: str  # 'kernel', 'bias', ...; 'vars/0' until tagging names it
    shape: tuple[int, ...]
    dtype: str  # a numpy dtype name, or BFLOAT16
    source: str  # file and path inside it, for messages and the record
    loader: Callable[[], np.ndarray] = field(repr=False)
    layout: Layout = Layout.UNKNOWN

    def load(self) -> np.ndarray:
        """Read the array (bfloat16 as uint16 bits)."""
        return self.loader()

    @property
    def region(self) -> FileRegion | None:
        """The file range holding the array's bytes as they are, when the reader knows one."""
        return self.loader if isinstance(self.loader, FileRegion) else None


@dataclass
class Layer:
    """A Keras layer: its config, where its inputs come from, and its tensors.

    A model nested as a layer has `children` (its own layers, in graph order) and no
    tensors of its own.
    """

    name: str
    class_name: str
    config: Config  # typed reads: layer.config.int("units"), ... (a plain dict is wrapped)
    path: tuple[str, ...]  # Keras names from the outermost model down to this layer
    inbound: list[str] = field(default_factory=list)
    inbound_nodes: Any = None  # the config's own record of each call, for the module builder
    tensors: list[Tensor] = field(default_factory=list)
    children: list[Layer] | None = None
    has_config: bool = True  # False when the class was inferred from a weights file
    #: a user's layer class read from a live model: `children` are the built-in layers found as its attributes
    #: (their tensors convert by their rules); what it computes is the user's code, so no module builds it
    custom: bool = False
    input_shape: tuple[int | None, ...] | None = None  # from the config's build_config, when saved
    call_graph: CallGraph | None = field(default=None, repr=False)  # a model's calls, parsed from its config
    module: str | None = None  # the config's `module` (Keras 3): tells an operation from a layer
    registered_name: str | None = None  # the config's `registered_name`: set for user-registered classes
    #: state a `.keras` archive keeps beside the weights, by asset name: a lookup's `vocabulary` (its lines)
    assets: dict[str, list[str]] = field(default_factory=dict)
    #: the group its weights sit under in its model's group, where that is not the class-numbered name: a KerasHub
    #: composite's inner layer, kept as an attribute (`_self_attention_layer`; readers/keras_hub.py)
    stored_as: str | None = None
    #: the HDF5 group holding its weights, where a Keras 3 weights file keeps them (`/layers/dense_1`): verify writes
    #: what was read under it where Keras reads the layer's weights (keras_regrouped.py)
    stored_at: str | None = None
    #: what a Lambda layer computes, as the user gave it (lambda_expressions.attach); never read from a file
    expression: LambdaExpression | None = None
    #: `key` as last made, with the path it was made from (reports and rules ask for it thousands of times)
    _key: tuple[tuple[str, ...], str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.config, Config):
            self.config = Config(self.config, f"layer {self.name} ({self.class_name})")

    @property
    def kind(self) -> str:
        """The layer's qualified kind, e.g. `keras.layers.Dense` or `keras.ops.numpy.Add`."""
        return qualified_name(self.module, self.class_name, self.registered_name)

    @property
    def label(self) -> str:
        """How messages name the layer's kind: its class, or the qualified name of an operation."""
        return self.kind if self.kind.startswith("keras.ops.") else self.class_name

    @property
    def key(self) -> str:
        """The key prefix of this layer's tensors, e.g. `encoder.dense_1`."""
        made = self._key
        if made is not None and made[0] is self.path:
            return made[1]
        key = ".".join(key_name(part) for part in self.path)
        self._key = (self.path, key)
        return key

    @property
    def is_model(self) -> bool:
        return self.children is not None and not self.custom

    @property
    def time_distributed_model(self) -> bool:
        """A TimeDistributed wrapping a model: read as that model (its layers are the children), applied to
        every time step."""
        return self.is_model and self.class_name == "TimeDistributed"

    def tensor(self, role: str) -> Tensor:
        """The tensor playing `role`; LayoutError (one line to the user, not a traceback) if the layer has none."""
        for tensor in self.tensors:
            if tensor.role == role:
                return tensor
        stored = ", ".join(tensor.role for tensor in self.tensors) or "none"
        raise LayoutError(f"layer {self.key} ({self.class_name}) has no tensor {role!r} (it has {stored}); the "
                          "file does not hold what a layer of its config holds: damaged, or saved from another model")

    def has(self, role: str) -> bool:
        return any(tensor.role == role for tensor in self.tensors)

    def walk(self) -> Iterator[Layer]:
        """This layer, or, for a nested model, every layer inside it, in graph order."""
        if self.children is None:
            yield self
        else:
            for child in self.children:
                yield from child.walk()


Ref = tuple[str, int, int]  # (layer name, node index, tensor index), as Keras configs write them


@dataclass
class Call:
    """One call of a layer in a model's graph: the tensors it reads and its other arguments.

    Tensors are Refs wherever they appear (nested in lists too); anything else is a constant.
    """

    layer: Layer
    node: int
    args: list[Ref]  # every tensor argument, in order
    kwargs: dict[str, Any]
    positional: list[Any] = field(default_factory=list)  # tensors (as Refs) and constants, in order
    shapes: dict[Ref, tuple[int | None, ...]] = field(default_factory=dict)  # what Keras 3 recorded of each

    def refs(self, keywords_by_name: bool = False) -> list[Ref]:
        """Every tensor the call reads: its arguments and tensors passed by keyword (those by name with
        `keywords_by_name`: Keras 3 lists a call's parent nodes so, flattening a dict's keys sorted)."""
        found = list(self.args)
        pending = [self.kwargs[key] for key in (sorted(self.kwargs) if keywords_by_name else self.kwargs)]
        while pending:  # tensors by keyword, nested in lists too (initial_state=[h, c])
            value = pending.pop(0)
            if isinstance(value, tuple):
                found.append(value)
            elif isinstance(value, list):
                pending[:0] = value
        return found


@dataclass
class CallGraph:
    """A model's input layers, its calls in config order, and the tensors it returns.

    `error` says why the config's record of calls could not be parsed (the weights still
    convert; building a module from it is refused with this message).
    """

    inputs: list[Layer]
    calls: list[Call]
    outputs: list[Ref]
    error: str | None = None


@dataclass
class InputSpec:
    """One model input: its name, shape with None for the batch axis, and dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"


@dataclass
class ModelGraph:
    """Layers in graph order plus what was found about the file they came from.

    Holds open file handles while tensors are lazy: use it as a context manager, or
    call `close()`, when done.
    """

    layers: list[Layer]
    source: str
    format: str  # one of converter.readers.FORMATS
    keras_version: str
    inputs: list[InputSpec] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    root: Layer | None = None  # the model itself (class, config); None for weights-only files
    files: list[str] = field(default_factory=list)  # every file read (no output may overwrite one)
    own_config: Any = field(default=None, repr=False)  # the model config the file itself holds (what Keras loads)
    hub_config: dict[str, Any] | None = field(default=None, repr=False)  # a Hugging Face TF checkpoint's config.json
    hub_folder: str | None = None  # the folder of that checkpoint (its tokenizer files are copied along)
    #: what reading changed of the file's config, as Keras's own loading of it does: each is a conversion warning
    notes: list[str] = field(default_factory=list)
    resources: ExitStack = field(default_factory=ExitStack, repr=False)
    # Checks of what was read (a zip member's CRC), run before any output is committed.
    integrity: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def walk(self) -> Iterator[Layer]:
        """Every leaf layer (nested models flattened), in graph order."""
        for layer in self.layers:
            yield from layer.walk()

    def every_layer(self) -> Iterator[Layer]:
        """Every layer and every nested model (walk() gives the leaves only), outer ones first."""
        stack = list(self.layers)
        while stack:
            layer = stack.pop(0)
            yield layer
            stack.extend(layer.children or [])

    def custom_layers(self) -> Iterator[Layer]:
        """Every user's layer read with its sublayers (`Layer.custom`), nested ones too."""
        return (layer for layer in self.every_layer() if layer.custom)

    def tensors(self) -> Iterator[tuple[Layer, Tensor]]:
        for layer in self.walk():
            for tensor in layer.tensors:
                yield layer, tensor

    def check_integrity(self) -> None:
        """Raise ReadError if any bytes read so far fail their source's own check (a zip CRC)."""
        for check in self.integrity:
            check()

    def close(self) -> None:
        self.resources.close()

    def __enter__(self) -> ModelGraph:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
