"""Writers: one module per target format, chosen by the destination's suffix.

A writer gets tensors (anything with `key`, `dtype`, `shape` and `load()`, optionally
`rows()`) and a metadata dict of strings; it knows nothing about Keras. Tensors are loaded,
written and freed one at a time (except for .pt, which torch.save writes at once), so
memory stays near the largest tensor; the safetensors writer asks a large tensor for its
rows band by band, made straight into its write buffers. Every write is atomic: files are
written under temporary names in the destination's folder, then renamed; a sharded
safetensors output renames its shards, then its index, last.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from ..errors import ConverterError, WriteError
from . import hdf5_file, npz_file, safetensors_file, torch_file


class WritableTensor(Protocol):
    key: str

    @property
    def dtype(self) -> str: ...

    shape: tuple[int, ...]

    def load(self) -> np.ndarray: ...

    # Optional: rows() -> fill(start, stop, out), writing rows start:stop of the tensor into `out`.


Progress = Callable[[int], None]
Writer = Callable[..., None]

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


def parse_size(text: str | int) -> int:
    """'500MB', '5GB', '10GiB' or a number of bytes -> bytes."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", str(text), re.IGNORECASE)
    if not match:
        raise WriteError(f"shard size {text!r}: give bytes or a size such as 500MB or 5GB")
    number, unit, binary = float(match.group(1)), match.group(2).upper(), match.group(3)
    base = 1024 if binary else 1000
    return int(number * base ** " KMGT".index(unit or " "))


def write(tensors: Sequence[WritableTensor], metadata: dict[str, str], destination: str, force: bool = False,
          max_shard_size: int | str | None = None, progress: Progress | None = None) -> list[str]:
    """Write `tensors` to `destination` atomically, in the format its suffix names; returns the files.

    With `max_shard_size` and a .safetensors destination larger than it, writes Hugging
    Face shards `name-0000i-of-0000n.safetensors` and `name.safetensors.index.json`.
    """
    check_destination(destination, force)
    writer = writer_for(destination)
    if max_shard_size is not None:
        if not destination.endswith(".safetensors"):
            raise WriteError(f"{destination}: --max-shard-size shards .safetensors outputs only")
        shards = safetensors_file.plan_shards(safetensors_file.ordered(tensors), parse_size(max_shard_size))
        if len(shards) > 1:
            return _write_shards(shards, metadata, destination, force, progress)
    _atomic(destination, lambda temporary: writer(temporary, tensors, metadata, progress=progress))
    return [destination]


def _write_shards(shards: list[list[Any]], metadata: dict[str, str], destination: str, force: bool,
                  progress: Progress | None) -> list[str]:
    names = safetensors_file.shard_names(destination, len(shards))
    index_path = destination + ".index.json"
    for path in names + [index_path]:
        if os.path.exists(path) and not force:
            raise WriteError(f"{path}: already exists; pass --force (force=True) to overwrite it")
    temporaries: list[tuple[str, str]] = []
    try:
        for name, shard in zip(names, shards):
            temporaries.append((_temporary(name), name))
            safetensors_file.write(temporaries[-1][0], shard, metadata, progress)
        temporaries.append((_temporary(index_path), index_path))
        with open(temporaries[-1][0], "w", encoding="utf-8") as handle:
            json.dump(safetensors_file.index(destination, shards, metadata), handle, indent=2)
        for temporary, final in temporaries:
            os.replace(temporary, final)
    except OSError as error:
        _remove(temporary for temporary, _ in temporaries)
        raise WriteError(f"{destination}: cannot write the shards ({error})") from None
    except BaseException:
        _remove(temporary for temporary, _ in temporaries)
        raise
    return names + [index_path]


def _temporary(destination: str) -> str:
    folder, name = os.path.split(os.path.abspath(destination))
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    return temporary


def _remove(paths: Any) -> None:
    for path in paths:
        if os.path.exists(path):
            os.unlink(path)


def _atomic(destination: str, write_to: Callable[[str], None]) -> None:
    temporary = _temporary(destination)
    try:
        write_to(temporary)
        os.replace(temporary, destination)
    except ConverterError:
        _remove([temporary])
        raise
    except OSError as error:
        _remove([temporary])
        raise WriteError(f"{destination}: cannot write ({error})") from None
    except BaseException:
        _remove([temporary])
        raise
