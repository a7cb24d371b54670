"""The exceptions weightport raises.

    ConverterError                 base; `cli.py` prints it on one line and exits 2
     +-- ReadError                 the source is missing, unreadable or not a Keras file
     +-- UnsupportedLayerError     layers with weights and no rule (lists every offender)
     +-- LayoutError               a tensor does not have the shape or layout its rule expects
     +-- WriteError                the destination cannot be written
     +-- VerificationError         converted outputs differ from Keras (exit code 1)

The library raises; only the CLI prints and exits.
"""
from __future__ import annotations


class ConverterError(Exception):
    """Base class of every error weightport raises on purpose."""

    exit_code = 2


class ReadError(ConverterError):
    """The source cannot be read as a Keras model or weights file."""


class UnsupportedLayerError(ConverterError):
    """One or more layers carry weights that no rule knows how to convert."""

    def __init__(self, message: str, layers: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.layers = layers  # (layer key, Keras class) of every offender


class LayoutError(ConverterError):
    """A tensor's shape or count does not match the layout its rule expects."""


class WriteError(ConverterError):
    """The destination cannot be written (exists, bad suffix, I/O failure)."""


class VerificationError(ConverterError):
    """The converted model's outputs differ from Keras's."""

    exit_code = 1
