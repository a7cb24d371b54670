"""The user's own code, imported only when they name it (`verify --module`, `--import`).

Nothing from a model file decides what is imported: the user gives MODULE[:FACTORY], the
module is imported with the current folder searched first (as `python -m` would), and the
factory, when given, is looked up. Calling it is the caller's business.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .errors import ArgumentError


def user_module(spec: str, option: str, expected: str, factory_required: bool) -> tuple[Any, Any]:
    """(the module, its FACTORY or None) of `spec`, MODULE[:FACTORY]; ArgumentError naming `option` when the
    spec is malformed, the module cannot be imported or has no such factory."""
    name, _, factory = spec.partition(":")
    if not name or not all(part.isidentifier() for part in name.split(".")) \
            or (factory or factory_required) and not factory.isidentifier():
        raise ArgumentError(f"{option} {spec!r}: expected {expected}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(name)
        return module, (getattr(module, factory) if factory else None)
    except (ImportError, AttributeError) as error:
        raise ArgumentError(f"{option} {spec!r}: {error}") from None
    finally:
        sys.path.pop(0)
