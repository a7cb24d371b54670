"""Writers: one module per target format, chosen by the destination's suffix.

A writer gets tensors (anything with `key`, `dtype`, `shape` and `load()`) and a
metadata dict of strings; it knows nothing about Keras. Every write is atomic: the
file is written under a temporary name in the destination's folder, then renamed.
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable, Protocol, Sequence

import numpy as np

from ..errors import ConverterError, WriteError
from . import hdf5_file, npz_file, safetensors_file, torch_file


class WritableTensor(Protocol):
    key: str

    @property
    def dtype(self) -> str: ...

    shape: tuple[int, ...]

    def load(self) -> np.ndarray: ...


Writer = Callable[[str, Sequence[WritableTensor], dict[str, str]], None]

WRITERS: dict[str, Writer] = {
    ".safetensors": safetensors_file.write,
    ".pt": torch_file.write,
    ".pth": torch_file.write,
    ".npz": npz_file.write,
    ".h5": hdf5_file.write,
    ".hdf5": hdf5_file.write,
}


def writer_for(destination: str) -> Writer:
    """The writer for `destination`'s suffix; WriteError for an unknown one."""
    suffix = os.path.splitext(destination)[1].lower()
    if suffix not in WRITERS:
        raise WriteError(
            f"{destination}: unknown output suffix {suffix or '(none)'}; use one of {', '.join(WRITERS)}"
        )
    return WRITERS[suffix]


def check_destination(destination: str, force: bool) -> None:
    """Fail early, before any reading, if `destination` cannot or must not be written."""
    writer_for(destination)
    if os.path.isdir(destination):
        raise WriteError(f"{destination}: is a directory; give a file name with a suffix such as .safetensors")
    if os.path.exists(destination) and not force:
        raise WriteError(f"{destination}: already exists; pass --force (force=True) to overwrite it")
    folder = os.path.dirname(os.path.abspath(destination))
    if not os.path.isdir(folder):
        raise WriteError(f"{destination}: folder {folder} does not exist; create it first")


def write(tensors: Sequence[WritableTensor], metadata: dict[str, str], destination: str, force: bool = False) -> None:
    """Write `tensors` to `destination` atomically, in the format its suffix names."""
    check_destination(destination, force)
    writer = writer_for(destination)
    folder, name = os.path.split(os.path.abspath(destination))
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    try:
        writer(temporary, tensors, metadata)
        os.replace(temporary, destination)
    except ConverterError:
        os.unlink(temporary)
        raise
    except OSError as error:
        os.unlink(temporary)
        raise WriteError(f"{destination}: cannot write ({error})") from None
    except BaseException:
        os.unlink(temporary)
        raise
