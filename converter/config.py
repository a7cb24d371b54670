"""A layer's Keras config, read with types: a malformed value is an error naming the layer and field.

Configs come from files anyone can write. Rules and the module builder read every field
they use through these getters, so a wrong type, a zero stride or an unknown padding mode
stops with one line (`ConfigError`) instead of a crash or a silently different model, and
only checked values (ints, floats, bools, known strings) ever reach generated source.
"""
from __future__ import annotations

import builtins

import math
from typing import Any, Iterable

from .errors import ConfigError

_MISSING: Any = object()


class Config(dict):
    """A Keras config dict; `where` names its layer for messages (`file: layer conv (Conv2D)`)."""

    where: str = "a layer"

    def __init__(self, values: Any = None, where: str = "a layer") -> None:
        super().__init__(values if isinstance(values, dict) else {})
        self.where = where

    def fail(self, key: str, expected: str, found: Any = _MISSING) -> ConfigError:
        shown = "" if found is _MISSING else f", found {_short(found)}"
        return ConfigError(f"{self.where}: config field {key!r} must be {expected}{shown}; the model config is "
                           "malformed")

    def _value(self, key: str, default: Any) -> Any:
        value = self.get(key, default)
        if value is _MISSING:
            raise self.fail(key, "present")
        return value

    def int(self, key: str, default: Any = _MISSING, minimum: int | None = None) -> int:
        """An integer field (at least `minimum`)."""
        value = self._value(key, default)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_int(value) or (minimum is not None and value < minimum):
            raise self.fail(key, "an integer" + (f" >= {minimum}" if minimum is not None else ""), value)
        return int(value)

    def optional_int(self, key: str, minimum: builtins.int | None = None) -> builtins.int | None:
        return None if self.get(key) is None else self.int(key, minimum=minimum)

    def ints(self, key: str, count: builtins.int, default: Any = _MISSING,
             minimum: builtins.int | None = None) -> tuple[builtins.int, ...]:
        """An int, or a list of `count` ints (kernel_size, strides): always a tuple of `count`."""
        value = self._value(key, default)
        values = list(value) if isinstance(value, (list, tuple)) else [value] * count
        expected = f"an integer or a list of {count} integers" + (f" >= {minimum}" if minimum is not None else "")
        if len(values) != count or not all(_is_int(v) and (minimum is None or v >= minimum) for v in values):
            raise self.fail(key, expected, value)
        return tuple(int(v) for v in values)

    def float(self, key: str, default: Any = _MISSING, minimum: float | None = None) -> float:
        """A finite number (at least `minimum`)."""
        value = self._value(key, default)
        if not _is_number(value) or not math.isfinite(value) or (minimum is not None and value < minimum):
            raise self.fail(key, "a finite number" + (f" >= {minimum}" if minimum is not None else ""), value)
        return float(value)

    def optional_float(self, key: str, minimum: builtins.float | None = None) -> builtins.float | None:
        return None if self.get(key) is None else self.float(key, minimum=minimum)

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        value = self._value(key, default)
        if not isinstance(value, bool) and value not in (0, 1):
            raise self.fail(key, "true or false", value)
        return bool(value)

    def choice(self, key: str, options: Iterable[str], default: Any = _MISSING) -> str:
        """One of `options` (compared in lower case, as Keras does for padding)."""
        value = self._value(key, default)
        if value is None and default is not _MISSING:  # Keras 2 may write null for "the default"
            value = default
        allowed = tuple(options)
        if not isinstance(value, str) or value.lower() not in allowed:
            raise self.fail(key, "one of " + ", ".join(repr(option) for option in allowed), value)
        return value.lower()

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self._value(key, default)
        if not isinstance(value, str):
            raise self.fail(key, "a string", value)
        return value

    def axes(self, key: str, default: Any = _MISSING) -> tuple[builtins.int, ...]:
        """An axis or a list of axes (ints, negative allowed)."""
        value = self._value(key, default)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values or not all(_is_int(v) for v in values):
            raise self.fail(key, "an axis or a list of axes (integers)", value)
        return tuple(int(v) for v in values)

    def numbers(self, key: str, default: Any = _MISSING) -> builtins.float | list[Any]:
        """A number or a (nested) list of finite numbers (per-channel constants), of a regular shape: an array."""
        value = self._value(key, default)
        if not _numbers(value) or array_shape(value) is None:
            raise self.fail(key, "a number or a list of numbers (nested lists of one shape)", value)
        return float(value) if _is_number(value) else value

    def section(self, key: str, default: Any = _MISSING) -> Config:
        """A nested config (the layer a wrapper holds): a Config with the same `where`."""
        value = self._value(key, default)
        if not isinstance(value, dict):
            raise self.fail(key, "an object", value)
        return Config(value, self.where)


#: the floating dtypes a Keras layer may compute in
COMPUTE_DTYPES = ("float16", "bfloat16", "float32", "float64")
#: policies of layers that compute in no floating dtype (an Input of token ids, a lookup)
INTEGER_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "bool", "string", "uint16", "uint32", "uint64")


def policy_name(policy: Any) -> Any:
    """A layer's `dtype` entry as the name it holds: Keras writes a name ("mixed_float16") or a policy object
    (Keras 3's DTypePolicy, tf.keras's Policy) holding one; None for an object without one, else the entry as it is."""
    if isinstance(policy, dict):
        inner = policy.get("config")
        return inner.get("name") if isinstance(inner, dict) else None
    return policy


def quantization_mode(config: Config) -> str | None:
    """"int8", "float8", "int4"... for a layer Keras 3 quantized (`model.quantize`), else None."""
    policy = config.get("dtype")
    if isinstance(policy, dict):
        inner = policy.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("mode"), str):
            return str(inner["mode"])
    policy = policy_name(policy)
    if isinstance(policy, str) and "_from_" in policy:
        return policy.split("_from_")[0]
    return None


def compute_dtype(config: Config) -> str:
    """The dtype a layer computes in, from its dtype policy: "mixed_float16" -> float16.

    Keras writes a name ("float32", "mixed_bfloat16") or a policy object (Keras 3's
    DTypePolicy, tf.keras's Policy) holding one; none means float32. A quantized policy
    ("int8_from_mixed_bfloat16") computes in the policy it is from.
    """
    policy = policy_name(config.get("dtype"))
    if policy is None:
        return "float32"
    if not isinstance(policy, str):
        raise config.fail("dtype", "a dtype policy name", policy)
    name = _policy_dtype(policy)
    if name not in COMPUTE_DTYPES:
        if name in INTEGER_DTYPES:
            return "float32"  # an integer layer (an Input of token ids, a lookup): nothing floating to cast
        raise config.fail("dtype", f"a dtype policy of {', '.join(COMPUTE_DTYPES)}", policy)
    return name


def integer_policy(config: Config) -> str | None:
    """The integer dtype a layer's policy names ("int32"), or None for a floating (or quantized) one."""
    policy = policy_name(config.get("dtype"))
    if not isinstance(policy, str):
        return None
    name = _policy_dtype(policy)
    return name if name in INTEGER_DTYPES else None


def _policy_dtype(policy: str) -> str:
    """The dtype a policy name computes in: "mixed_float16" -> float16; a quantized policy
    ("int8_from_mixed_bfloat16") the one it is from."""
    name = policy.split("_from_")[-1]
    return name[len("mixed_"):] if name.startswith("mixed_") else name


def activation_layer(activation: Any) -> tuple[str, Config] | None:
    """The class and config of a Keras layer given as an activation (`Dense(activation=LeakyReLU())`, which
    both Keras serialize as the layer), or None for an activation function."""
    if not isinstance(activation, dict) or activation.get("class_name") == "function":
        return None
    config = activation.get("config")
    return str(activation.get("class_name")), Config(config if isinstance(config, dict) else {}, "activation layer")


def activation_identity(activation: Any) -> Any:
    """What an activation entry computes, for comparing two: a layer given as one without what only names it
    (its name; Keras 3's shared_object_id, which differs between a Bidirectional's two copies)."""
    layer = activation_layer(activation)
    if layer is None:
        return activation
    return layer[0], {key: value for key, value in layer[1].items() if key not in ("name", "build_config")}


def activation_name(activation: Any) -> str:
    """A Keras activation entry (a name, or Keras 3's serialized dict) as a name; "?" when it is neither. A layer
    given as an activation is named by its class (`LeakyReLU layer`), never by its own name, which is the
    user's (an ELU(alpha=0.5) is named `elu`); a function by its name only where it is Keras's own.

    The name is only ever used to look an activation up, never written anywhere as it is.
    """
    layer = activation_layer(activation)
    if layer is not None:
        return f"{layer[0][:40]} layer"
    if isinstance(activation, dict):  # a function: Keras's by its name, the user's by a name no Keras one has
        module, name = str(activation.get("module") or "keras.activations"), activation.get("config")
        keras_own = module.split(".")[0] in ("keras", "tf_keras") and "activations" in module
        activation = name if keras_own or not isinstance(name, str) or ">" in name else f"{module}.{name}"
    if activation is None:
        return "linear"
    return activation if isinstance(activation, str) and activation else "?"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def array_shape(value: Any, depth: int = 0) -> tuple[int, ...] | None:
    """The shape of a number (()) or of nested lists of numbers as an array holds them: every list at one depth of
    one length (a ragged one, [[1, 2], [3]], stopped torch.tensor in the module), at most 8 deep; else None."""
    if isinstance(value, (bool, int, float)):
        return ()
    if not isinstance(value, list) or depth >= 8:
        return None
    shapes = {array_shape(item, depth + 1) for item in value}
    inner = shapes.pop() if len(shapes) == 1 else () if not shapes else None
    return None if inner is None else (len(value),) + inner


def _numbers(value: Any, depth: int = 0) -> bool:
    if _is_number(value):
        return math.isfinite(value)
    return isinstance(value, list) and depth < 8 and all(_numbers(item, depth + 1) for item in value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
