"""The only two ways a value read from a model file enters generated Python source.

- `Namer.name(text)`: an identifier made from a file's name for something (a layer, a
  model): characters outside [A-Za-z0-9_] become `_`, a leading digit or underscore gets
  a prefix, and names Python or the generated module already use (keywords, builtins,
  `torch`, `nn`, `F`, the runtime helpers, every `nn.Module` attribute) get a trailing
  `_`; each name is unique within its namer.
- `literal(value)`: a constant of a checked type (None, bool, int, float, str, and
  tuples or lists of those) written as a Python literal; anything else is refused.

Everything else in generated source is text weightport wrote itself.
"""
from __future__ import annotations

import builtins
import keyword
import math
import numbers
import re
from typing import Any

from .errors import ReadError

#: Names of the generated module's own imports and helpers (runtime*.py, padding.py), and of its loader: a
#: class named after a model must not replace one (tests/test_config_properties.py checks the list is whole).
MODULE_NAMES = frozenset({
    "torch", "nn", "F", "math", "warnings", "OrderedDict", "load", "self", "to_cf", "to_cl", "torch_layout",
    "autocast", "integers_as_floats", "same_pad", "same_padding", "transpose_crop", "pool", "keras_torch_same_pad",
    "keras_torch_pool",
    "keras_torch_same_padding", "keras_torch_same_paddings", "keras_torch_conv_transpose",
    "keras_torch_transpose_padding", "conv_transpose", "pad_argument",
    "keras_tf_bias",
    "keras_tf_channels_first_bias", "hard_sigmoid_keras2", "squareplus", "sparse_plus", "keras_relu", "keras_rnn",
    "keras_conv_lstm",
    "keras_int8_inputs", "time_distributed", "integer_lookup", "encoded", "center_crop",
    "float32_quotient", "aspect_crop", "aspect_pad", "keras_dot", "masked_mean", "integer_mean", "mirror_pad",
    "edge_pad", "tf1_resize_bilinear", "integer_total", "rounded_as", "image_as_floats",
    "keras3_masked_merge", "depth_to_space", "space_to_depth", "Weight", "LocallyConnected", "EinsumDense",
    "Normalization", "carried_state", "dot_product_attention", "keras_quantile", "keras_stft",
})
#: Attributes of torch.nn.Module (torch 2.x) and of generated modules: a layer must not shadow them.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu",
    "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state",
    "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers",
    "named_children", "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
    "training", "type", "xpu", "zero_grad", "source", "reset_states",
})
RESERVED = MODULE_NAMES | MODULE_ATTRIBUTES | frozenset(dir(builtins))


class Namer:
    """Hands out unique, safe identifiers within one scope (a class's attributes, a forward's locals)."""

    def __init__(self, reserved: frozenset[str] = RESERVED) -> None:
        self.reserved = reserved
        self.taken: set[str] = set()

    def name(self, text: str, prefix: str = "") -> str:
        """A fresh identifier for `text` (a file's name for something), `prefix` put in front."""
        base = prefix + re.sub(r"[^A-Za-z0-9_]", "_", text)[:80]
        if not base or not (base[0].isalpha() and base.isascii()):
            base = "layer_" + base.lstrip("_") if not prefix else base
        if base in self.reserved or keyword.iskeyword(base) or keyword.issoftkeyword(base) or base.startswith("_"):
            base += "_"
        name, counter = base, 1
        while name in self.taken:
            counter += 1
            name = f"{base}_{counter}"
        self.taken.add(name)
        return name


def literal(value: Any) -> str:
    """`value` as Python source; only None, bool, int, float, str and tuples/lists of them."""
    if value is None or isinstance(value, bool) or type(value).__name__ == "bool_":
        return repr(None if value is None else bool(value))
    if isinstance(value, numbers.Integral):  # numpy integers too
        return repr(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return repr(number) if math.isfinite(number) else f"float({str(number)!r})"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):
        items = [literal(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    raise ReadError(f"a value of type {type(value).__name__} from the model file cannot be written into generated "
                    "source; the model config is malformed")
