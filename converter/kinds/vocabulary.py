"""IntegerLookup inside a model, and the vocabulary of any lookup layer: from its config, or from the
`.keras` archive's assets.

A vocabulary given to the constructor is in the config. One adapted (`layer.adapt(data)`) is
saved beside the weights as `assets/<layer group>/vocabulary.txt`, one token a line, as
Keras's `get_vocabulary()` lists it: the special tokens first (the mask token, when set, then
`num_oov_indices` copies of the OOV token; TextVectorization's are '' and '[UNK]'). The
vocabulary a constructor takes is what follows them; when the first lines are not those
tokens, it cannot be told, and nothing is guessed.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..config import Config
from ..graph import Layer
from .forward import KERAS, Emitter, Value, literal
from .registry import Kind, register


#: the most out-of-vocabulary indices a lookup is read with (Keras sets no bound; a crafted 10**12 ran out of memory
#: listing the OOV tokens before the vocabulary)
MAX_OOV_INDICES = 1 << 16


def oov_indices(config: Config) -> int:
    """A lookup's num_oov_indices, checked."""
    oov = config.int("num_oov_indices", 1, minimum=0)
    if oov > MAX_OOV_INDICES:
        raise config.fail("num_oov_indices", f"an integer from 0 to {MAX_OOV_INDICES}", oov)
    return oov


def special_tokens(layer: Layer) -> list[str]:
    """The tokens Keras lists before a lookup layer's vocabulary, as text (as its asset holds them): the mask
    token in output_mode 'int' only (the other modes give it no index), then the out-of-vocabulary ones."""
    config = layer.config
    integers = config.get("output_mode", "int") == "int"
    if layer.class_name == "TextVectorization":
        return ["", "[UNK]"] if integers else ["[UNK]"]
    mask, oov = config.get("mask_token"), oov_indices(config)
    token = config.get("oov_token", -1 if layer.class_name == "IntegerLookup" else "[UNK]")
    return ([str(mask)] if mask is not None and integers else []) + [str(token)] * oov


def lookup_vocabulary(layer: Layer) -> list[Any] | None:
    """The vocabulary a lookup layer's constructor takes (no special tokens): its config's, or its saved
    asset's with the special tokens removed (IntegerLookup's as ints). None when neither tells it."""
    given = layer.config.get("vocabulary")
    if isinstance(given, list):
        return given
    lines = layer.assets.get("vocabulary")
    special = special_tokens(layer)
    if lines is None or lines[:len(special)] != special:
        return None
    tokens = lines[len(special):]
    if layer.class_name != "IntegerLookup":
        return tokens
    try:
        return [int(token) for token in tokens]
    except ValueError:
        return None


def integer_lookup_refusal(layer: Layer) -> str | None:
    """Why an IntegerLookup is not built (no vocabulary of ids in its config or its saved asset, a mode
    other than 'int' with out-of-vocabulary indices, an odd mask token), or None when it is."""
    config: Config = layer.config
    vocabulary = lookup_vocabulary(layer)
    if not isinstance(vocabulary, list) or not vocabulary or not all(isinstance(v, int) for v in vocabulary):
        return ("IntegerLookup whose vocabulary of ids is neither in its config nor in the archive's assets (a "
                "file given by path, a weights-only source) is not built: run the lookup before the model")
    mode, oov = config.get("output_mode", "int"), oov_indices(config)
    if config.bool("invert", False) or oov == 0 or config.get("oov_method", "floormod") != "floormod":
        return "IntegerLookup inverted, or without out-of-vocabulary indices, is not built"
    if mode not in ("int", "one_hot", "multi_hot", "count"):
        return f"IntegerLookup with output_mode {str(mode)[:20]!r} is not built (int, one_hot, multi_hot, count are)"
    if mode != "int" and (config.bool("sparse", False) or config.bool("pad_to_max_tokens", False)
                          or config.get("vocabulary_dtype", "int64") != "int64"):
        return f"IntegerLookup({mode}) sparse, padded to max_tokens or of another vocabulary_dtype is not built"
    mask = config.get("mask_token")
    if mask is not None and not isinstance(mask, int) or mask in vocabulary:
        return "IntegerLookup with a mask token that is not an id outside the vocabulary is not built"
    return None


def integer_lookup(e: Emitter) -> Value:
    """IntegerLookup(vocabulary=[...]): each id's index, as Keras numbers them ('int' mode), or encoded.

    Indices: 0 for the mask token (when one is set), then the out-of-vocabulary indices
    (an id not in the vocabulary gets oov_start + id mod num_oov_indices, Keras's floormod),
    then the vocabulary in its order: the config's, or the one adapted and saved as an asset.
    """
    config = e.config
    refused = integer_lookup_refusal(e.layer)
    if refused:
        raise e.unsupported(refused)
    vocabulary, oov, mask = lookup_vocabulary(e.layer), oov_indices(config), config.get("mask_token")
    mode = config.get("output_mode", "int")
    if mode != "int":
        return _encoded_lookup(e, vocabulary or [], oov, mask, mode)
    oov_start = 1 if mask is not None else 0
    expr = (f"{e.helper('integer_lookup')}({e.arg(0, KERAS)}, {literal(vocabulary)}, {oov_start + oov}, "
            f"{oov_start}, {oov}, {literal(mask)})")
    return Value(expr, KERAS, e.inputs[0].rank, integer=True)  # int64 indices, whatever the input's dtype


#: from which Keras 3 a one_hot IntegerLookup is probed (3.3 and 3.15 drop a trailing axis of 1, as tf.keras does)
LOOKUP_ONE_HOT_FROM = (3, 3)


def _encoded_lookup(e: Emitter, vocabulary: list[Any], oov: int, mask: Any, mode: str) -> Value:
    """IntegerLookup in output_mode one_hot, multi_hot or count: the indices without one for the mask token (its
    ids encode as zeros), encoded over the out-of-vocabulary indices and the vocabulary; int64 in Keras 3 (its
    vocabulary's dtype), float32 in tf.keras."""
    from .preprocessing import encoded_indices  # the encoding Discretization shares

    if mode == "one_hot" and e.keras_major >= 3 and e.keras_version < LOOKUP_ONE_HOT_FROM:
        raise e.unsupported("a one_hot IntegerLookup of Keras 3.0 to 3.2 is not built (3.3 on and tf.keras are)")
    indices = (f"{e.helper('integer_lookup')}({e.arg(0, KERAS)}, {literal(vocabulary)}, {oov}, 0, {oov}, "
               f"{literal(mask)}, -1)")
    dtype = "int64" if e.keras_major >= 3 else "float32"
    value = encoded_indices(e, indices, e.inputs[0].rank, oov + len(vocabulary), mode, dtype, squeeze=True)
    return replace(value, integer=e.keras_major >= 3)


register(Kind("keras.layers.IntegerLookup", forward=integer_lookup,
              description="no weights; the vocabulary (the config's, or the .keras archive's adapted asset) "
                          "written into the module",
              tested="a vocabulary, a mask token, several out-of-vocabulary indices, adapted (an asset); "
                     "output_mode one_hot, multi_hot and count (the mask token's ids as zeros), Keras 3.3's"))
