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
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from ..dependencies import require_torch
from ..errors import ArgumentError, WriteError
from . import files, npz_file, safetensors_file, torch_file

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none


class WritableTensor(Protocol):
    key: str

    @property
    def dtype(self) -> str: ...

    shape: tuple[int, ...]

    def load(self) -> np.ndarray: ...

    # Optional: rows() -> fill(start, stop, out), writing rows start:stop of the tensor into `out`.


Progress = Callable[[int], None]
Writer = Callable[..., None]

def _write_hdf5(*arguments: Any, **keywords: Any) -> None:
    from . import hdf5_file  # h5py imported only when an .h5 is written

    hdf5_file.write(*arguments, **keywords)


WRITERS: dict[str, Writer] = {
    ".safetensors": safetensors_file.write,
    ".pt": torch_file.write,
    ".pth": torch_file.write,
    ".npz": npz_file.write,
    ".h5": _write_hdf5,
    ".hdf5": _write_hdf5,
}


#: the formats an exported model's load() reads back
MODEL_FORMATS = (".safetensors", ".pt", ".pth")


def suffix_of(path: str) -> str:
    """The suffix that picks a format: `.safetensors`, `.pt`, ... (lower case)."""
    return os.path.splitext(path)[1].lower()


def writer_for(destination: str) -> Writer:
    """The writer for `destination`'s suffix; WriteError for an unknown one."""
    suffix = suffix_of(destination)
    if suffix not in WRITERS:
        raise WriteError(
            f"{destination}: unknown output suffix {suffix or '(none)'}; use one of {', '.join(WRITERS)}"
        )
    return WRITERS[suffix]


def check_destination(destination: str, force: bool, sources: Sequence[str] = ()) -> None:
    """Fail early, before any reading, if `destination` cannot or must not be written.

    `sources` are the files the conversion reads: none of them may be overwritten, even
    with `force`.
    """
    writer_for(destination)
    if suffix_of(destination) == ".pt":
        require_torch(f"{destination}: writing a .pt file")
    check_output(destination, force, sources)
    index = destination + ".index.json"
    if destination.endswith(".safetensors") and os.path.exists(index) and not force:
        raise WriteError(f"{destination}: a sharded output of that name exists ({index}); pass --force "
                         "(force=True) to replace it")


def check_output(path: str, force: bool, sources: Sequence[str] = ()) -> None:
    """Any output file (weights, a record, a model file): writable, new or forced, and no source."""
    if os.path.isdir(path):
        raise WriteError(f"{path}: is a directory; give a file name")
    for source in sources:
        if _same_file(path, source):
            raise WriteError(f"{path}: is the source {source} itself; writing it would destroy the source "
                             "(--force does not allow that): choose another name")
    if os.path.lexists(path) and not force:
        raise WriteError(f"{path}: already exists; pass --force (force=True) to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise WriteError(f"{path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise WriteError(f"{path}: folder {folder} is not writable; choose a folder you can write to")


def _same_file(path: str, source: str) -> bool:
    try:
        return os.path.samefile(path, source)
    except OSError:  # one of them does not exist (yet)
        return os.path.abspath(path) == os.path.abspath(source)


def parse_size(text: str | int) -> int:
    """'500MB', '5GB', '10GiB' or a number of bytes -> bytes."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ArgumentError(f"shard size {text!r}: give bytes or a size such as 500MB or 5GB")
    number, unit, binary = float(match.group(1)), match.group(2).upper(), match.group(3)
    base = 1024 if binary else 1000
    return int(number * base ** " KMGT".index(unit or " "))


def write(tensors: Sequence[WritableTensor], metadata: dict[str, str], destination: str, force: bool = False,
          max_shard_size: int | str | None = None, progress: Progress | None = None,
          validate: Callable[[], None] | None = None, sources: Sequence[str] = ()) -> list[str]:
    """Write `tensors` to `destination` atomically, in the format its suffix names; returns the files.

    With `max_shard_size` and a .safetensors destination larger than it, writes Hugging
    Face shards `name-0000i-of-0000n.safetensors` and `name.safetensors.index.json`.
    `validate` runs after every byte is written and before any file takes its final name
    (the source's own checks: a zip CRC); if it raises, nothing is left behind. With
    `force`, the shards an earlier sharded output of that name listed are removed. Callers
    check `destination` with check_destination before they read anything; publishing never
    overwrites a file that appeared since, without `force`.
    """
    writer = writer_for(destination)
    shards: list[list[Any]] = [list(tensors)]
    if max_shard_size is not None:
        if not destination.endswith(".safetensors"):
            raise WriteError(f"{destination}: --max-shard-size shards .safetensors outputs only")
        shards = safetensors_file.plan_shards(safetensors_file.ordered(tensors), parse_size(max_shard_size))
    stale = _old_shards(destination) if force else []
    if len(shards) > 1:
        written = _write_shards(shards, metadata, destination, force, progress, validate, sources)
    else:
        files.atomic(destination, lambda temporary: writer(temporary, tensors, metadata, progress=progress), force,
                     validate)
        written = [destination]
    files.remove(path for path in stale if path not in written)
    return written


def _old_shards(destination: str) -> list[str]:
    """The index of an earlier sharded output at `destination` and the shards it names (ours only)."""
    index_path = destination + ".index.json"
    if not destination.endswith(".safetensors") or not os.path.isfile(index_path):
        return []
    try:
        with open(index_path, encoding="utf-8") as handle:
            weight_map = json.load(handle).get("weight_map", {})
        names = {name for name in weight_map.values() if isinstance(name, str)}
    except (OSError, ValueError, AttributeError):
        return [index_path]
    stem = re.escape(os.path.basename(destination)[: -len(".safetensors")])
    ours = re.compile(stem + r"-\d{5}-of-\d{5}\.safetensors")
    folder = os.path.dirname(os.path.abspath(destination))
    return [index_path] + [os.path.join(folder, name) for name in sorted(names) if ours.fullmatch(name)]


def _write_shards(shards: list[list[Any]], metadata: dict[str, str], destination: str, force: bool,
                  progress: Progress | None, validate: Callable[[], None] | None,
                  sources: Sequence[str]) -> list[str]:
    names = safetensors_file.shard_names(destination, len(shards))
    index_path = destination + ".index.json"
    for path in names + [index_path]:
        check_output(path, force, sources)
    temporaries: list[tuple[str, str]] = []
    published: list[str] = []
    try:
        for name, shard in zip(names, shards):
            temporaries.append((files.temporary_for(name), name))
            try:
                safetensors_file.write(temporaries[-1][0], shard, metadata, progress)
            except OSError as error:
                raise WriteError(f"{name}: cannot write ({files.describe(error)})") from None
        temporaries.append((files.temporary_for(index_path), index_path))
        with open(temporaries[-1][0], "w", encoding="utf-8") as handle:
            json.dump(safetensors_file.index(destination, shards, metadata), handle, indent=2)
        if validate is not None:
            validate()
        for temporary, final in temporaries:  # the index last: a reader never sees it before its shards
            files.publish(temporary, final, force)
            published.append(final)
    except OSError as error:
        raise WriteError(f"{destination}: cannot write the shards ({files.describe(error)})") from None
    finally:
        leftover = [temporary for temporary, _ in temporaries if os.path.lexists(temporary)]
        if len(published) < len(temporaries):  # failed part way: roll back what was published too
            files.remove(leftover + published)
    return names + [index_path]
