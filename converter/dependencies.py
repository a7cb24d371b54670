"""Optional dependencies, checked before any reading: a missing one is one line saying what to install."""
from __future__ import annotations

import importlib.util
import sys

from .errors import MissingDependencyError


def installed(package: str) -> bool:
    """Importable, without importing it (torch and TensorFlow take seconds to import)."""
    if package in sys.modules:
        return sys.modules[package] is not None  # None: import blocked on purpose
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def require_torch(what: str) -> None:
    """PyTorch, for `.pt` files and for anything that builds or runs a module."""
    if not installed("torch"):
        raise MissingDependencyError(f"{what} needs PyTorch: pip install 'weightport[torch]' "
                                     "(or a torch build of your choice first)")


def require_transformers(what: str) -> None:
    """Hugging Face transformers (and PyTorch): its PyTorch class of a model decides names and shapes."""
    require_torch(what)
    if not installed("transformers"):
        raise MissingDependencyError(f"{what} needs Hugging Face transformers (its PyTorch class of the model decides "
                                     "every name and shape): pip install transformers")


def require_keras(what: str) -> None:
    """Keras (3, or tf_keras for Keras 2 files), for running the Keras side of a comparison."""
    if not installed("keras") and not installed("tf_keras"):
        raise MissingDependencyError(f"{what} needs Keras to compare with: pip install 'weightport[keras]'")
