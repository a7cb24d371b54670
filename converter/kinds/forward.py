"""How a kind is written in a generated `forward`: the values it sees and the emitter it writes with.

A kind's `forward(e)` reads its call's inputs (`Value`s: a Python expression, its layout
and rank) and returns the value (or values) it computes, as source text; it imports no
torch. The module builder (`converter.torch_build`) implements `Emitter`. Every value
carries its layout: "keras" (channels-last, as Keras holds it) or "cf" (channels-first,
as torch convolutions want it); a kind asks for the layout it needs and the builder
inserts the permutes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Protocol, Union

from ..config import Config, activation_layer, activation_name
from ..source import literal

if TYPE_CHECKING:
    from ..conversion import LayerConversion, TorchModule
    from ..errors import UnsupportedLayerError
    from ..graph import Call, Layer

CHANNELS_FIRST = "cf"
KERAS = "keras"


def is_image_rank(rank: int | None) -> bool:
    """Whether a tensor of this rank is an image or volume (N, ..., C): the ones the layouts permute."""
    return rank in (4, 5)


@dataclass
class Value:
    """A tensor in the generated forward: its Python expression, layout, rank and Keras mask."""

    expr: str
    layout: str
    rank: int | None
    mask: str | None = None
    flat_order: str | None = None  # a flattened feature map: "hwc" (Keras's order) or "chw" (torch's)
    flat_channels: int | None = None  # a "chw" one's channels: per-layer checks regroup it as Keras holds it
    dtype: str | None = None  # a floating dtype other than float32 it is computed in (bfloat16 layers)
    # an integer or boolean tensor (an Input of ids, a cast, a comparison): a layer with weights, a mean or a leaky
    # ReLU computes on it as floats, as Keras does
    integer: bool = False
    # computed from an integer tensor by layers or operations that may keep it one (an Add, a ReLU, a tf.abs), where
    # the builder does not know: a layer with weights computes it as floats if it is integers when it runs
    from_integers: bool = False

    @property
    def may_be_integers(self) -> bool:
        """Whether it is an integer tensor, or may be one when the module runs."""
        return self.integer or self.from_integers


class SavedBy(Protocol):
    """The Keras that ran the model, as the file (or the user) says: a few layers compute differently by
    version and backend, and a rule's module arguments and a forward follow the one that ran it."""

    keras_major: int  # 2 or 3
    keras_version: tuple[int, int]  # its major and minor version ((3, 99) when the file does not say)
    backend: str | None  # the backend it ran on, where the file (legacy .h5) or the user says; None: TensorFlow


class Emitter(Protocol):
    """What a kind's forward sees of one Keras call, and how it adds code for it."""

    layer: Layer
    call: Call
    config: Config
    inputs: list[Value]
    kwargs: dict[str, Any]
    result: LayerConversion | None  # what the kind's rule made of the layer's weights
    keras_major: int  # the Keras that wrote the file: 2 or 3
    keras_version: tuple[int, int]  # its major and minor version ((3, 99) when the file does not say)
    backend: str | None  # the backend it ran on, where the file records it (legacy .h5)
    first_input_cast: bool  # whether the call's first input was cast to the layer's dtype (Keras's autocast)
    #: set by a forward where Keras returns its input tensor itself (a cast to the dtype it has, a move of an axis
    #: to where it is, a Dropout at inference): the input's Keras mask stays on it, as on that tensor object in
    #: Keras, and a MultiHeadAttention that clears one clears the other (run_order.py)
    returns_input: bool
    #: set by a forward where the file's Keras changed its first input tensor in place (Keras 3 before 3.15 on
    #: torch: in_place.py): that tensor's value for the calls Keras runs after it
    changed_input: Value | None
    statements: list[str]  # lines added so far, run before the value is assigned

    @property
    def attribute(self) -> str: ...  # how forward refers to this layer's module: `self.<name>`

    def arg(self, index: int = 0, layout: str | None = None) -> str: ...
    def convert(self, value: Value, layout: str | None) -> str: ...
    def module(self, module: TorchModule, policy: Config | None = None) -> str: ...
    def helper(self, name: str) -> str: ...
    def buffer(self, expr: str) -> str: ...  # a constant tensor the module holds (it moves with .to(device))
    def carried_states(self) -> str: ...  # the dict a stateful layer keeps its states in between calls
    def statement(self, line: str) -> None: ...
    def variable(self, suffix: str) -> str: ...
    def mask(self) -> str | None: ...
    def previous_mask(self) -> str | None: ...
    def positional(self, index: int) -> Any: ...
    def named(self, name: str, default: Any = None) -> Any: ...
    def unsupported(self, why: str) -> UnsupportedLayerError: ...
    def inner(self, layer: Layer, inputs: list[Value], own_policy: bool = True) -> Emitter: ...
    def cast_for(self, config: Config, value: Value) -> Value: ...
    def consumers(self, layer_name: str) -> list[Layer]: ...
    def is_output(self, layer_name: str) -> bool: ...
    def outputs_read(self) -> int: ...  # how many of this call's outputs the model reads
    def result_of(self, layer: Layer) -> LayerConversion | None: ...
    def producer(self, layer: Layer) -> Layer | None: ...


Forward = Callable[[Emitter], Union[Value, list[Value]]]


def require_weights(emitter: Emitter) -> LayerConversion:
    """What the kind's rule made of the layer's weights; refuses a layer of a weighted kind whose weights
    were not converted (the file holds none for it)."""
    if emitter.result is None:
        raise emitter.unsupported("no weights were converted for it (the file holds none, or the layer it wraps "
                                  "has no rule)")
    return emitter.result


def activation(emitter: Emitter, name: Any, value: Value) -> str:
    """Keras activation `name` applied to `value`, with the semantics of the Keras that wrote the file."""
    layer = activation_layer(name)
    if layer is not None:  # a layer given as the activation: its own options
        from .activations import layer_as_activation  # the activation layers' rules (they import this module)

        return layer_as_activation(emitter, layer[0], layer[1], value)
    name = activation_name(name)
    x = value.expr
    dim = channel_dim(value)
    simple = {
        "linear": x, "relu": f"F.relu({x})", "sigmoid": f"torch.sigmoid({x})", "tanh": f"torch.tanh({x})",
        "softmax": f"torch.softmax({x}, dim={dim})", "log_softmax": f"torch.log_softmax({x}, dim={dim})",
        "elu": f"F.elu({x})", "selu": f"F.selu({x})", "softplus": f"F.softplus({x})",
        "softsign": f"F.softsign({x})", "swish": f"F.silu({x})", "silu": f"F.silu({x})",
        "gelu": f"F.gelu({x})", "exponential": f"torch.exp({x})", "relu6": f"F.relu6({x})",
        "hard_silu": f"F.hardswish({x})", "hard_swish": f"F.hardswish({x})", "mish": f"F.mish({x})",
        "leaky_relu": f"F.leaky_relu({x}, 0.2)", "celu": f"F.celu({x})", "log_sigmoid": f"F.logsigmoid({x})",
        "tanh_shrink": f"F.tanhshrink({x})",
        # Keras 3's, with the defaults a name gives: threshold 0.5, glu's halves along the channel axis
        "hard_tanh": f"F.hardtanh({x})", "hard_shrink": f"F.hardshrink({x}, 0.5)",
        "soft_shrink": f"F.softshrink({x}, 0.5)", "glu": f"F.glu({x}, dim={dim})",
        "sparse_sigmoid": f"torch.clamp(0.5 * ({x} + 1), 0.0, 1.0)",
    }
    if name in ("squareplus", "sparse_plus"):  # formulas that read x more than once: x computed once
        return f"{emitter.helper(name)}({x})"
    if name == "hard_sigmoid":
        if emitter.keras_major < 3:  # Keras 2: clip(0.2x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6
            return f"{emitter.helper('hard_sigmoid_keras2')}({x})"
        return f"F.hardsigmoid({x})"
    if name not in simple:
        raise emitter.unsupported(f"activation {name[:40]!r} has no PyTorch equivalent here")
    return simple[name]


#: from which Keras the layers add their bias with ops.add (whose TensorFlow backend may use tf.nn.bias_add);
#: before, with `+=`, which broadcasts: the convolutions and ops.add itself from 3.7, EinsumDense (the
#: MultiHeadAttention projections too, which are EinsumDense layers) from 3.10 (Keras's sources, 3.6 to 3.15)
OPS_ADD_BIAS_FROM = (3, 7)
EINSUM_OPS_ADD_BIAS_FROM = (3, 10)


def tensorflow_bias_add(e: Emitter, since: tuple[int, int] = OPS_ADD_BIAS_FROM) -> bool:
    """Whether the file's Keras added biases by its TensorFlow backend's rule: its ops.add (from Keras 3.7; for the
    layer, from `since`, when it adds its bias with ops.add) adds a bias with one axis longer than 1 by
    tf.nn.bias_add, along the output's last axis when that axis has the bias's size, else axis 1, whichever axis
    the bias was shaped for; on TensorFlow, or a backend the file does not record (a .keras archive)."""
    return e.keras_version >= max(since, OPS_ADD_BIAS_FROM) and e.backend in (None, "tensorflow")


#: from which Keras its torch backend pads 'same' as TensorFlow does (Keras's sources, 3.0 to 3.15)
TORCH_SAME_PADDING_FROM = (3, 9)


TORCH_POOL_PADDING_FROM = (3, 5)  # an average pooling's 'same' padding as a max pooling's (keras_torch_pool)
TORCH_TRANSPOSE_CLAMPS_FROM, TORCH_TRANSPOSE_CROPS_FROM = (3, 13), (3, 15)


def ran_on_torch(e: SavedBy) -> bool:
    """Whether Keras 3 ran this model on its torch backend (the file or keras_backend says so)."""
    return e.keras_major == 3 and e.backend == "torch"


def ran_on_jax(e: SavedBy) -> bool:
    """Whether Keras 3 ran this model on its JAX backend (or NumPy's, whose recurrent loops are JAX's): the file or
    keras_backend says so."""
    return e.keras_major == 3 and e.backend in ("jax", "numpy")


def torch_changes_input(e: SavedBy, until: tuple[int, int]) -> bool:
    """Whether the file's Keras changed a layer's input tensor in place: Keras 3 before `until` on its torch backend
    (torch_build/in_place.py; TensorFlow's and JAX's tensors cannot change)."""
    return ran_on_torch(e) and e.keras_version < until


def torch_same_crops(e: SavedBy) -> bool:
    """Whether a strided 'same' convolution's padding crops where its total is negative: Keras 3.0 to 3.8 on
    their torch backend (padding.keras_torch_same_padding); every other Keras pads as TensorFlow does."""
    return ran_on_torch(e) and e.keras_version < TORCH_SAME_PADDING_FROM


def torch_pool_rule(e: SavedBy, average: bool) -> str | None:
    """The rule of runtime.keras_torch_pool by which Keras's torch backend pads a 'same' pooling where it
    differs from TensorFlow's: None elsewhere (and for a max pooling from Keras 3.9: its edge copies pool as
    TensorFlow's -inf)."""
    if not ran_on_torch(e) or (not average and e.keras_version >= TORCH_SAME_PADDING_FROM):
        return None
    if average and e.keras_version < TORCH_POOL_PADDING_FROM:
        return "zeros"
    return "crops" if e.keras_version < TORCH_SAME_PADDING_FROM else "clamped"


def torch_transpose_clamps(e: SavedBy) -> bool | None:
    """For a 'same' transposed convolution of Keras 3.0 to 3.14 on their torch backend, whether an output padding
    of at least the stride is clamped (3.13, 3.14) rather than refused (runtime.keras_torch_conv_transpose); None
    where the output is cropped as TensorFlow crops it."""
    if not ran_on_torch(e) or e.keras_version >= TORCH_TRANSPOSE_CROPS_FROM:
        return None
    return e.keras_version >= TORCH_TRANSPOSE_CLAMPS_FROM


def softmax_large_negative(e: Emitter, dtype: str | None) -> float:
    """The number Keras's Softmax puts at masked scores: -1e9; in float16, where that is -inf (and a row masked
    throughout NaN), -3e4 (Keras 3) or float16's lowest (tf.keras)."""
    if dtype != "float16":
        return -1e9
    return -3e4 if e.keras_major >= 3 else -65504.0


def softmax_zeroes_masked(e: Emitter) -> bool:
    """Whether Keras's Softmax zeroes its masked outputs after the softmax (Keras 3.10 on): a row masked
    throughout gives zeros, not an even spread."""
    return e.keras_major >= 3 and e.keras_version >= (3, 10)


def activated(emitter: Emitter, value: Value) -> Value:
    """`value` passed through the activation fused into this layer's config."""
    return same(value, activation(emitter, emitter.config.get("activation", "linear"), value))


def one_layout(rank: int | None) -> bool:
    """Whether a tensor of this rank is the same in both layouts: (batch, features) and (batch,) have no axis to
    move."""
    return rank is not None and rank <= 2


def channel_dim(value: Value) -> int:
    """The torch dim of Keras's last axis (the channels) for a value in its layout."""
    return 1 if value.layout == CHANNELS_FIRST and not one_layout(value.rank) else -1


def keras_axis(axis: int, value: Value) -> int:
    """A Keras axis as the torch dim of `value` in its layout; ValueError when the rank is unknown."""
    if value.layout != CHANNELS_FIRST or one_layout(value.rank):
        return axis
    if value.rank is None:
        raise ValueError("rank unknown")
    axis = axis % value.rank
    return 1 if axis == value.rank - 1 else (axis + 1 if axis > 0 else 0)


def spatial_layout(e: "Emitter") -> str:
    """The layout a spatial layer (pooling, padding, cropping, upsampling) computes in: channels-first.
    With data_format="channels_first" Keras's own tensor already is (batch, channels, *spatial)."""
    # None (keras.ops' default): Keras's image_data_format, channels_last unless a keras.json says otherwise
    data_format = e.config.get("data_format") or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        data_format = e.config.choice("data_format", ("channels_last", "channels_first"))  # says what is wrong
    return KERAS if data_format == "channels_first" else CHANNELS_FIRST


def same(value: Value, expr: str, rank: int | None = None, layout: str | None = None) -> Value:
    """A new value like `value` (layout, rank, mask, flattening order) with a new expression."""
    return Value(expr, layout or value.layout, value.rank if rank is None else rank, value.mask,
                 flat_order=value.flat_order, flat_channels=value.flat_channels)


def floats_where_integers(value: Value, dtype: str | None, helper: Callable[[str], str]) -> Value:
    """`value` in floating `dtype` (None: float32) where it is integers, as Keras computes them: cast where it is an
    integer tensor (`Value.integer`); where it may be one (`Value.from_integers`), cast by the runtime helper
    `helper` names if it is integers when the module runs, a floating one left as it is (its dtype too). Any
    other value as it is."""
    torch_dtype = f"torch.{dtype or 'float32'}"
    if value.integer:
        return replace(value, expr=f"{value.expr}.to({torch_dtype})",
                       dtype=None if dtype in (None, "float32") else dtype, integer=False, from_integers=False)
    if value.from_integers:
        return replace(value, expr=f"{helper('integers_as_floats')}({value.expr}, {torch_dtype})",
                       from_integers=False)
    return value


def floats(operand: Any, e: Emitter) -> Any:
    """An integer tensor as float32 (floats_where_integers), where Keras computes on one so: Keras 3's mean,
    variance, norm, floor, hypot (result_type(x, float)), a leaky ReLU (TensorFlow casts). Any other operand (a
    float tensor, a constant) as it is."""
    return floats_where_integers(operand, None, e.helper) if isinstance(operand, Value) else operand


def constant_tensor(e: Emitter, values: Any, shape: tuple[int, ...] | None = None, dtype: str | None = None) -> str:
    """Numbers from a config (a list, nested lists) as a tensor the module holds as a buffer (torch's default
    dtype for floats, int64 for integers, as torch.tensor makes them; else floating `dtype`, as a layer computing
    in it casts them), reshaped to `shape` if given."""
    reshaped = f".reshape({literal(shape)})" if shape is not None else ""
    typed = f", dtype=torch.{dtype}" if dtype not in (None, "float32") else ""
    return e.buffer(f"torch.tensor({literal(values)}{typed}){reshaped}")


__all__ = ["CHANNELS_FIRST", "KERAS", "Emitter", "Forward", "Value", "activated", "activation", "channel_dim",
           "constant_tensor", "floats", "is_image_rank", "keras_axis", "literal", "ran_on_torch", "require_weights",
           "same", "spatial_layout"]
