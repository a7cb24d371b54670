"""What a Lambda's stored function names, for `inspect`: read as text from its bytes, never unmarshalled nor run.

A Lambda's function is stored as base64 of marshalled bytecode, or, for a function defined with
`def`, by its name. The names a lambda called (`exp`, `random_normal`, `resize_images`) lie in
those bytes as plain ASCII; inspect lists the ones the expression language knows (and a few it
refuses, which say why) to help a user write the expression the layer needs.
"""
from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Mapping

from .lambda_functions import FUNCTIONS, SYNONYMS

MAX_CODE = 1 << 16  # base64 characters read of one function
MAX_NAMES = 10
#: names a Lambda may call that the language refuses or spells otherwise, worth showing all the same
OTHER_NAMES = frozenset({"random_normal", "random_uniform", "truncated_normal", "dropout", "shape", "int_shape", "dot",
                         "split", "gather", "tile", "resize", "sequence_mask"})
_KNOWN = frozenset(name.split(".")[-1] for name in FUNCTIONS) | frozenset(SYNONYMS) | OTHER_NAMES
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]{1,40}")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")


def described(config: Mapping[str, Any]) -> str | None:
    """"function 'sampling'" for a named function, "its code names exp, random_normal" for a lambda, or None where
    the config says neither."""
    function = config.get("function")
    if isinstance(function, Mapping):  # Keras 3: {"class_name": "__lambda__", "config": {"code": ...}} or a name
        inner = function.get("config")
        if function.get("class_name") == "__lambda__" and isinstance(inner, Mapping):
            return _names(inner.get("code"))
        return _named(inner)
    first = function[0] if isinstance(function, list) and function else function
    if config.get("function_type") == "function":  # Keras 2: the function's name
        return _named(first)
    return _names(first)


def _named(name: Any) -> str | None:
    return f"function {name[:40]!r}" if isinstance(name, str) and name else None


def _names(code: Any) -> str | None:
    if not isinstance(code, str):
        return None
    if _BASE64.fullmatch(code[:MAX_CODE]):
        text = "".join(code[:MAX_CODE].split())
        try:
            raw = base64.b64decode(text[:len(text) - len(text) % 4])
        except (binascii.Error, ValueError):
            return None
    else:  # Keras 2.0 and 2.1 stored the marshalled bytes themselves, as text
        raw = code[:MAX_CODE].encode("latin-1", "replace")
    names: list[str] = []
    for word in _WORD.findall(raw):
        name = word.decode("ascii")
        if name in _KNOWN and name not in names:
            names.append(name)
    return f"its code names {', '.join(names[:MAX_NAMES])}" if names else None
