"""KerasHub's (and KerasNLP's) composite layers, read as the functional models they compute.

`keras_hub.layers.TransformerEncoder` (and TransformerDecoder) is a layer whose `call` runs Keras's own
layers in a fixed order (KerasHub's source, the same from keras_nlp 0.7 to keras_hub 0.32): a config records only
its arguments, and a `.keras` archive its inner layers' weights under the attribute that holds
each (`_self_attention_layer/query_dense/vars/0`). It is read as a nested model of those built-in
layers, named as KerasHub names them (`self_attention_layer`), whose weights are found under those
attributes (`Layer.stored_as`): every rule and module that serves a Keras model serves it.
Dropout is left out (a no-op at inference). The masks a call hands it by keyword (`padding_mask=`,
`attention_mask=`) become inputs of its model after the first, merged as KerasHub merges them;
its output keeps its input's Keras mask (the module builder sees `keras_hub_composite` in its
config), as a layer that supports masking does. KerasHub's layers with weights of their own are
kinds (kinds/keras_hub_layers.py).
"""
from __future__ import annotations

from typing import Any

from ..keras_names import qualified_name
from .limits import MAX_MODEL_DEPTH

#: what this module adds to a config, and so takes out of the file's own: a crafted one would send a layer to
#: another's weights (stored_as) or give a model a composite's masks (the others)
MARKS = ("stored_as", "keras_hub_composite", "keras_hub_inputs")


def is_keras_hub(entry: dict[str, Any]) -> bool:
    """Whether a config entry is one of KerasHub's (or KerasNLP's) classes, by its module or registered name."""
    module, registered = entry.get("module"), entry.get("registered_name")
    return qualified_name(module if isinstance(module, str) else None, "_",
                          registered if isinstance(registered, str) else None).startswith("keras_hub.")


#: each composite's tensor arguments: those it takes by position (or by their names), then its masks by keyword;
#: each one a call hands it becomes an input of its model, in this order
SIGNATURES = {
    "TransformerEncoder": (("inputs",), ("padding_mask", "attention_mask")),
    "TransformerDecoder": (("decoder_sequence", "encoder_sequence"), ("decoder_padding_mask", "decoder_attention_mask",
                                                                     "encoder_padding_mask", "encoder_attention_mask")),
}
#: what else a call may set: none changes what the layer computes at inference (use_causal_mask is the decoder's
#: default, True, or the layer is not built)
SETTINGS = ("training", "use_causal_mask", "mask")  # mask: the input's, as Keras 3.0 to 3.9 record it


def composite_model(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The nested functional model a KerasHub composite layer's entry computes, or None (another class, or a
    config without what the model needs: the shape and dtype of each tensor it is called on, as Keras 3 records
    them, in one call)."""
    if not is_keras_hub(entry) or not isinstance(entry.get("config"), dict):
        return None
    class_name = str(entry.get("class_name"))
    build = COMPOSITES.get(class_name)
    found = _call_tensors(entry, class_name)
    if build is None or found is None:
        return None
    tensors, sources = found
    config = entry["config"]
    try:
        layers, output = build(config, tensors)
    except (TypeError, ValueError, ZeroDivisionError, KeyError):  # a config the layer could not have been built from
        return None
    name = config.get("name") or entry.get("name")
    inputs = [{"module": "keras.layers", "class_name": "InputLayer", "name": input_name, "inbound_nodes": [],
               "config": {"name": input_name, "batch_shape": shape, "dtype": dtype}}
              for input_name, (shape, dtype) in tensors.items()]
    for layer in layers:  # each runs in the composite's dtype policy, as KerasHub makes them
        if "dtype" in config and layer["module"] == "keras.layers":
            layer["config"]["dtype"] = config["dtype"]
    return {**entry, "class_name": class_name, "name": name,
            "config": {"name": name, "layers": inputs + layers,
                       "input_layers": [[input_name, 0, 0] for input_name in tensors],
                       "output_layers": [[output, 0, 0]], "keras_hub_composite": class_name,
                       "keras_hub_inputs": sources}}


def _call_tensors(entry: dict[str, Any], class_name: str
                  ) -> tuple[dict[str, tuple[list[Any], str]], list[int | str]] | None:
    """({argument name: (shape, dtype)}, where each comes from: its position among the call's tensors, or its
    keyword) for the tensors a composite layer is called with, in its signature's order, from the call's record;
    None unless it is called once, with tensors its signature names and no other setting than SETTINGS."""
    nodes = entry.get("inbound_nodes")
    if class_name not in SIGNATURES or not isinstance(nodes, list) or len(nodes) != 1 \
            or not isinstance(nodes[0], dict):
        return None
    args, kwargs = nodes[0].get("args"), nodes[0].get("kwargs") or {}
    positional, keywords = SIGNATURES[class_name]
    if not isinstance(args, list) or not isinstance(kwargs, dict) or len(args) > len(positional) \
            or set(kwargs) - {*positional, *keywords, *SETTINGS} or kwargs.get("use_causal_mask", True) is not True:
        return None
    given: dict[str, tuple[Any, int | str]] = {name: (item, index) for index, (name, item)
                                               in enumerate(zip(positional, args))}
    given.update({name: (kwargs[name], name) for name in (*positional, *keywords) if kwargs.get(name) is not None})
    tensors, sources = {}, []
    for name in (*positional, *keywords):
        if name in given:
            spec = _tensor_spec(given[name][0])
            if spec is None:
                return None
            tensors[name] = spec
            sources.append(given[name][1])
    if positional[0] not in tensors:
        return None
    return tensors, sources


def _tensor_spec(item: Any) -> tuple[list[Any], str] | None:
    """(shape, dtype) of a recorded tensor argument, or None for anything else."""
    config = item.get("config") if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__" else None
    shape = config.get("shape") if isinstance(config, dict) else None
    dtype = config.get("dtype") if isinstance(config, dict) else None
    if not isinstance(shape, list) or not all(n is None or (isinstance(n, int) and n > 0) for n in shape) \
            or not isinstance(dtype, str):
        return None
    return shape, dtype


def _tensor(layer: str) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [layer, 0, 0]}}


def _operation(class_name: str, module: str, name: str, config: dict[str, Any], *inputs: str) -> dict[str, Any]:
    """A keras.ops operation entry called on `inputs`."""
    return {"module": f"keras.src.ops.{module}", "class_name": class_name, "registered_name": class_name,
            "name": name, "config": {"name": name, **config},
            "inbound_nodes": [{"args": [_tensor(each) for each in inputs], "kwargs": {}}]}


def _attention_mask(tensors: dict[str, Any], padding: str = "padding_mask", attention: str = "attention_mask",
                    prefix: str = "") -> tuple[list[dict[str, Any]], str | None]:
    """The operations that make an attention's mask from the masks handed in by keyword, as KerasHub's
    merge_padding_and_attention_mask does: a padding mask (batch, steps) as (batch, 1, steps) int32 (it replaces
    the sequence's own Keras mask there), an attention mask (batch, steps, steps) as int32, both: their minimum.
    (layers, the mask's name or None)."""
    padded, attended = padding in tensors, attention in tensors
    layers: list[dict[str, Any]] = []
    if padded:
        layers += [_operation("ExpandDims", "numpy", f"{prefix}padding_expanded", {"axis": 1}, padding),
                   _operation("Cast", "core", f"{prefix}padding_int32", {"dtype": "int32"},
                              f"{prefix}padding_expanded")]
    if attended:
        layers.append(_operation("Cast", "core", f"{prefix}attention_int32", {"dtype": "int32"}, attention))
    if padded and attended:
        layers.append(_operation("Minimum", "numpy", f"{prefix}mask", {}, f"{prefix}padding_int32",
                                 f"{prefix}attention_int32"))
        return layers, f"{prefix}mask"
    return layers, f"{prefix}padding_int32" if padded else f"{prefix}attention_int32" if attended else None


def _layer(class_name: str, name: str, stored_as: str | None, config: dict[str, Any], *inputs: str | list[str]
           ) -> dict[str, Any]:
    """A layer entry called on `inputs` (a list: one argument of several tensors, as Add takes them)."""
    args = [[_tensor(each) for each in item] if isinstance(item, list) else _tensor(item) for item in inputs]
    return {"module": "keras.layers", "class_name": class_name, "name": name, "stored_as": stored_as,
            "config": {"name": name, "trainable": True, **config}, "inbound_nodes": [{"args": args, "kwargs": {}}]}


def _sizes(config: dict[str, Any], width: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The configs of a Transformer layer's LayerNormalizations and attention (key_dim = width // heads), as
    KerasHub makes them; ValueError where its width and heads admit none."""
    heads = config["num_heads"]
    if not isinstance(width, int) or not isinstance(heads, int) or isinstance(heads, bool) or not 0 < heads <= width:
        raise ValueError("no attention width")
    norm = {"axis": -1, "epsilon": config.get("layer_norm_epsilon", 1e-5), "center": True, "scale": True}
    attention = {"num_heads": heads, "key_dim": width // heads, "value_dim": width // heads, "use_bias": True,
                 "output_shape": None, "attention_axes": None, "dropout": 0.0}
    return norm, attention


def _feedforward(layers: list[dict[str, Any]], config: dict[str, Any], width: int, norm: dict[str, Any],
                 first: bool, x: str) -> str:
    """A Transformer layer's last block on `x`, appended to `layers`: two Dense layers, the residual and the layer
    norm (first with normalize_first); returns the name of its output."""
    fed = x
    if first:
        layers.append(_layer("LayerNormalization", "feedforward_layer_norm", "_feedforward_layer_norm", norm, x))
        fed = "feedforward_layer_norm"
    layers += [_layer("Dense", "feedforward_intermediate_dense", "_feedforward_intermediate_dense",
                      {"units": config["intermediate_dim"], "activation": config.get("activation", "relu"),
                       "use_bias": True}, fed),
               _layer("Dense", "feedforward_output_dense", "_feedforward_output_dense",
                      {"units": width, "activation": "linear", "use_bias": True}, "feedforward_intermediate_dense"),
               _layer("Add", "feedforward_residual", None, {}, ["feedforward_output_dense", x])]
    if first:
        return "feedforward_residual"
    layers.append(_layer("LayerNormalization", "feedforward_layer_norm", "_feedforward_layer_norm", norm,
                         "feedforward_residual"))
    return "feedforward_layer_norm"


def transformer_encoder(config: dict[str, Any], tensors: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """KerasHub's TransformerEncoder: self-attention under the masks handed in, residual and layer norm, then the
    feedforward; the norms first with normalize_first."""
    width = tensors["inputs"][0][-1]
    norm, attention = _sizes(config, width)
    first = bool(config.get("normalize_first", False))
    layers, mask = _attention_mask(tensors)
    attended = "inputs"
    if first:
        layers.append(_layer("LayerNormalization", "self_attention_layer_norm", "_self_attention_layer_norm", norm,
                             "inputs"))
        attended = "self_attention_layer_norm"
    layers.append(_layer("MultiHeadAttention", "self_attention_layer", "_self_attention_layer", attention,
                         attended, attended))
    if mask is not None:
        layers[-1]["inbound_nodes"][0]["kwargs"]["attention_mask"] = _tensor(mask)
    layers.append(_layer("Add", "self_attention_residual", None, {}, ["self_attention_layer", "inputs"]))
    residual = "self_attention_residual"
    if not first:
        layers.append(_layer("LayerNormalization", "self_attention_layer_norm", "_self_attention_layer_norm", norm,
                             residual))
        residual = "self_attention_layer_norm"
    return layers, _feedforward(layers, config, width, norm, first, residual)


def transformer_decoder(config: dict[str, Any], tensors: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """KerasHub's TransformerDecoder: causal self-attention, cross-attention over the encoder's sequence where it
    is given one, then the feedforward, each with its residual and layer norm (the norms first with
    normalize_first). Its attention (KerasHub's CachedMultiHeadAttention) reads no Keras mask of its own: only the
    mask KerasHub merges, (batch, 1, steps) from the attended sequence's mask or the padding mask handed in, and an
    attention mask. Here Keras's MultiHeadAttention computes it so: its query is a copy (which carries no mask),
    its value the sequence itself (its mask read as that merged one), or a copy too where a padding mask replaces
    it (then given as the attention mask). The module builder keeps the copies from clearing the masks outside."""
    width = tensors["decoder_sequence"][0][-1]
    norm, attention = _sizes(config, width)
    first = bool(config.get("normalize_first", False))
    layers: list[dict[str, Any]] = []

    def block(kind: str, value_of: str | None, padding: str, mask: str, causal: bool, residual: str) -> str:
        """One attention block on `residual`; returns the name of its output."""
        attended = residual
        if first:
            layers.append(_layer("LayerNormalization", f"{kind}_layer_norm", f"_{kind}_layer_norm", norm, residual))
            attended = f"{kind}_layer_norm"
        value = value_of or attended
        mask_layers, merged = _attention_mask(tensors, padding, mask, prefix=f"{kind}_")
        layers.extend(mask_layers)
        layers.append(_operation("Copy", "numpy", f"{kind}_query", {}, attended))
        if padding in tensors:  # the padding mask replaces the value's own: a copy, which carries none
            layers.append(_operation("Copy", "numpy", f"{kind}_value", {}, value))
            value = f"{kind}_value"
        layers.append(_layer("MultiHeadAttention", kind, f"_{kind}_layer", attention, f"{kind}_query", value))
        call = layers[-1]["inbound_nodes"][0]["kwargs"]
        if merged is not None:
            call["attention_mask"] = _tensor(merged)
        if causal:
            call["use_causal_mask"] = True
        layers.append(_layer("Add", f"{kind}_residual", None, {}, [kind, residual]))
        if first:
            return f"{kind}_residual"
        layers.append(_layer("LayerNormalization", f"{kind}_layer_norm", f"_{kind}_layer_norm", norm,
                             f"{kind}_residual"))
        return f"{kind}_layer_norm"

    x = block("self_attention", None, "decoder_padding_mask", "decoder_attention_mask", True, "decoder_sequence")
    if "encoder_sequence" in tensors:
        x = block("cross_attention", "encoder_sequence", "encoder_padding_mask", "encoder_attention_mask", False, x)
    return layers, _feedforward(layers, config, width, norm, first, x)


COMPOSITES = {"TransformerEncoder": transformer_encoder, "TransformerDecoder": transformer_decoder}


def with_composites(model_config: Any, depth: int = 0) -> Any:
    """`model_config` with each KerasHub composite layer in it (nested models' too) replaced by the model it
    computes; the file's own MARKS dropped (only the models read here carry them)."""
    if not isinstance(model_config, dict):
        return model_config
    config = model_config.get("config")
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(config, dict) or not isinstance(layers, list) or depth > MAX_MODEL_DEPTH:
        return _unmarked(model_config)
    replaced = [composite_model(entry) or with_composites(entry, depth + 1) if isinstance(entry, dict) else entry
                for entry in layers]
    return _unmarked({**model_config, "config": {**_unmarked(config), "layers": replaced}})


def _unmarked(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key not in MARKS}
