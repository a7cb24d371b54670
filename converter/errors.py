"""The exceptions weightport raises: one tree, one subclass for every kind of problem.

    ConverterError                 base; `cli.py` prints it on one line and exits 2
     +-- ArgumentError             a bad argument value (a layout, a mapping, a size)
     +-- MissingDependencyError    an optional package the command needs is not installed
     +-- ReadError                 the source is missing, unreadable or not a Keras file
     |    +-- ConfigError          a config field has the wrong type or value
     |    +-- UnsafeFileError      loading the file would run its code (verify refuses it)
     +-- UnsupportedLayerError     layers with weights and no rule, or no PyTorch equivalent
     +-- LayoutError               a tensor does not have the shape or layout its rule expects
     +-- WriteError                the destination cannot be written
     +-- LoadError                 tensors and a module's parameters do not pair up (`.plan`)
     +-- VerificationError         converted outputs differ from Keras (exit code 1)

The library raises; only the CLI prints and exits. What a user should know about a
conversion that worked is a `ConversionWarning` (Python's warnings; the CLI prints them).
"""
from __future__ import annotations

from typing import Any


class ConverterError(Exception):
    """Base class of every error weightport raises on purpose."""

    exit_code = 2


class ArgumentError(ConverterError):
    """An argument has a value weightport does not accept."""


class MissingDependencyError(ConverterError):
    """An optional dependency is not installed; the message says what to install."""


class ReadError(ConverterError):
    """The source cannot be read as a Keras model or weights file."""


class ConfigError(ReadError):
    """A config field has the wrong type or value."""


class UnsafeFileError(ReadError):
    """Loading the file in Keras would run code the file carries."""


class UnsupportedLayerError(ConverterError):
    """One or more layers carry weights that no rule knows how to convert, or cannot be built."""

    def __init__(self, message: str, layers: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.layers = layers  # (layer key, Keras class) of every offender


class LayoutError(ConverterError):
    """A tensor's shape or count does not match the layout its rule expects."""


class WriteError(ConverterError):
    """The destination cannot be written (exists, bad suffix, I/O failure)."""


class ConversionWarning(UserWarning):
    """Something a user may need to know about a conversion that succeeded (a Keras option PyTorch lacks,
    a layer left out with skip_unsupported, a module in training mode). The CLI prints these on stderr."""


class LoadError(ConverterError):
    """Some tensors cannot be paired with the module's parameters; `.plan` says which and why."""

    def __init__(self, message: str, plan: Any) -> None:
        super().__init__(message)
        self.plan = plan


class VerificationError(ConverterError):
    """The converted model's outputs differ from Keras's."""

    exit_code = 1
