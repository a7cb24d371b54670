"""Many models at once: every Keras file of a list of files, folders and globs into one output folder.

Each source converts on its own (in a pool of processes with jobs > 1); one failing does
not stop the others. The result is one row per source, for a summary table.
"""
from __future__ import annotations

import glob
import os
import re
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .errors import ArgumentError, ConversionWarning, ConverterError
from .readers import hub_checkpoint, hub_sharded
from .writers import WRITERS

#: the suffixes of Keras files a folder is searched for (a sharded index counts as one model, and so does a sharded
#: Hugging Face TensorFlow checkpoint's tf_model.h5.index.json)
KERAS_SUFFIXES = (".keras", ".weights.json", ".h5.index.json", ".weights.h5", ".h5", ".hdf5")
#: a Hugging Face TensorFlow checkpoint's shard (`tf_model-00001-of-00003.h5`), converted through its index
HUB_SHARD = re.compile(r"tf_model-\d+-of-\d+\.h5")


@dataclass
class BatchItem:
    """One source of a batch: where it went and how it went."""

    source: str
    destination: str
    status: str = "pending"  # ok | failed
    format: str = ""
    tensors: int = 0
    seconds: float = 0.0
    error: str = ""
    warnings: list[str] = field(default_factory=list)


def keras_files(paths: Iterable[str]) -> list[str]:
    """The Keras files named by `paths`: files as given, folders searched (their files, and their subfolders that
    are one model as a whole: not deeper), globs expanded."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            path = os.path.normpath(path)  # `zoo/` names its models as `zoo` does
            names = sorted(os.listdir(path))
            taken = _whole_model(path, names)
            shards = {name for name in names if name.endswith(".weights.json")}
            hub_shards = hub_sharded.INDEX in names
            found += [path] if taken is not None else []
            found += [os.path.join(path, name) for name in names if name.endswith(KERAS_SUFFIXES)
                      and name not in (taken or ()) and not _is_shard_of(name, shards)
                      and not (hub_shards and HUB_SHARD.fullmatch(name)) and os.path.isfile(os.path.join(path, name))]
            found += [os.path.join(path, name) for name in names if os.path.isdir(os.path.join(path, name))
                      and _whole_model(os.path.join(path, name), _names_in(os.path.join(path, name))) is not None]
        elif not os.path.exists(path) and glob.has_magic(path):
            matches = sorted(glob.glob(path, recursive=True))  # `zoo/**/*.h5`: every folder under zoo
            if not matches:
                raise ArgumentError(f"{path}: matches no file")
            found += keras_files(matches)
        else:
            found.append(path)  # a missing file fails in its own row, with the reader's message
    return list(dict.fromkeys(found))


def _names_in(folder: str) -> list[str]:
    """A subfolder's names; none when it cannot be listed (it is then no model of the batch)."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _whole_model(folder: str, names: list[str]) -> set[str] | None:
    """The file names of a folder that is one model as a whole, which convert reads through the folder (a Keras
    model folder's weights are read with the config.json beside them), or None when it is not one: a SavedModel, a
    Keras model folder (config.json beside model.weights.h5 or .json), a TensorFlow.js model's folder (model.json
    and its .bin files) or a Hugging Face TensorFlow checkpoint's (config.json beside tf_model.h5)."""
    if "saved_model.pb" in names and os.path.isdir(os.path.join(folder, "variables")):
        return set()
    if "model.json" in names and any(name.endswith(".bin") for name in names):
        return {"model.json"}
    if "config.json" not in names:
        return None
    keras_weights = {"model.weights.h5", "model.weights.json"} & set(names)
    if keras_weights:
        return keras_weights
    hub_weights = {"tf_model.h5", hub_sharded.INDEX} & set(names)
    try:  # a transformers config.json ("model_type") beside tf_model.h5, else a Keras file of that name
        return hub_weights if hub_weights and hub_checkpoint(folder) is not None else None
    except ConverterError:
        return None


def _is_shard_of(name: str, indexes: set[str]) -> bool:
    """`model_00000.weights.h5` beside `model.weights.json`: a shard, converted through its index."""
    return name.endswith(".weights.h5") and any(name.startswith(index[: -len(".weights.json")] + "_")
                                                for index in indexes)


def output_name(source: str, suffix: str) -> str:
    base = os.path.basename(source)
    for keras_suffix in KERAS_SUFFIXES:
        if base.endswith(keras_suffix):
            return base[: -len(keras_suffix)] + suffix
    return base + suffix


def _output_names(sources: list[str], suffix: str) -> list[str]:
    """Each source's output name: its own, unless two would share one. One model saved in two formats side by
    side (model.keras, model.h5) keeps its format in both names; models of one name in different folders (a zoo of
    `resnet/model.h5` and `bert/model.h5`) take their folders' paths below the folder all share."""
    folders = [os.path.dirname(os.path.abspath(source)) for source in sources]
    bases = [output_name(source, suffix) for source in sources]
    places = list(zip(folders, bases))
    counts = Counter(places)  # counted once: a zoo of thousands of models is not compared pair by pair
    names = [os.path.basename(source).replace(".", "_") + suffix if counts[place] > 1 else base
             for source, base, place in zip(sources, bases, places)]
    folders_of: dict[str, set[str]] = {}
    for folder, base in places:
        folders_of.setdefault(base, set()).add(folder)
    spread = [len(folders_of[base]) > 1 for base in bases]
    if not any(spread):
        return names
    common = os.path.commonpath([folder for folder, repeated in zip(folders, spread) if repeated])
    prefixes = [os.path.relpath(folder, common).replace(os.sep, "_") for folder in folders]
    return [f"{prefix}_{name}" if repeated and prefix != os.curdir else name  # the shared folder's own: as it is
            for prefix, name, repeated in zip(prefixes, names, spread)]


def _deeper_hint(paths: Sequence[str]) -> str:
    """Where a folder's Keras files lie deeper than it is searched (a zoo of one folder per model): how many, and
    how to name them."""
    folders = [path for path in paths if os.path.isdir(path)]
    deeper = 0
    for folder in folders:
        for _, _, files in os.walk(folder):
            deeper += sum(name.endswith(KERAS_SUFFIXES) for name in files)
            if deeper > 10_000:
                break
    if not deeper:
        return ""
    examples = " ".join(f"'{os.path.join(folders[0], '**', '*' + suffix)}'" for suffix in (".h5", ".keras"))
    return (f"; its subfolders hold {deeper:,}{'+' if deeper > 10_000 else ''} (a folder gives its own files and "
            f"its subfolders that are one model as a whole): name them with quoted globs, such as {examples}")


def plan_batch(paths: Sequence[str], out_dir: str, suffix: str = ".safetensors") -> list[BatchItem]:
    """One item per Keras file, each with its destination in `out_dir`; two sources of one name are refused."""
    if suffix not in WRITERS:
        raise ArgumentError(f"suffix {suffix!r}: expected one of {', '.join(sorted(WRITERS))}")
    if not os.path.isdir(out_dir):
        raise ArgumentError(f"{out_dir}: the output folder does not exist; create it first")
    sources = keras_files(paths)
    if not sources:
        raise ArgumentError(f"no Keras file in {', '.join(paths)} (looked for {', '.join(KERAS_SUFFIXES)})"
                            f"{_deeper_hint(paths)}")
    names = _output_names(sources, suffix)
    items = [BatchItem(source, os.path.join(out_dir, name)) for source, name in zip(sources, names)]
    seen: dict[str, str] = {}
    for item in items:
        if item.destination in seen:
            raise ArgumentError(f"{seen[item.destination]} and {item.source} would both be written to "
                                f"{item.destination}; convert them into different folders")
        seen[item.destination] = item.source
    return items


def convert_many(paths: Sequence[str], out_dir: str, *, suffix: str = ".safetensors", jobs: int = 1,
                 **options: Any) -> list[BatchItem]:
    """Convert every Keras file of `paths` (files, folders, globs) into `out_dir` as `<name><suffix>`.

    `options` are `convert`'s (layout, force, dtype, skip_unsupported, keep_unsupported, ...). With `jobs` > 1
    the files convert in that many processes. Failures are rows, not exceptions.
    """
    if jobs < 1:
        raise ArgumentError(f"jobs {jobs}: expected 1 or more")
    items = plan_batch(paths, out_dir, suffix)
    if jobs == 1 or len(items) == 1:
        return [_convert_one(item, options) for item in items]
    from concurrent.futures import ProcessPoolExecutor  # multiprocessing: imported only for a pool

    with ProcessPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        return list(pool.map(_convert_one, items, [options] * len(items)))


def _convert_one(item: BatchItem, options: dict[str, Any]) -> BatchItem:
    from . import convert  # the package's own convert: imported here so that workers import it once

    started = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConversionWarning)
            conversion = convert(item.source, item.destination, **options)
        item.status, item.format, item.tensors = "ok", conversion.graph.format, len(conversion.tensors)
        item.warnings = [str(w.message) for w in caught if issubclass(w.category, ConversionWarning)]
    except ConverterError as error:
        item.status, item.error = "failed", " ".join(str(error).split())
    except Exception as error:  # noqa: BLE001 - a bug of ours must not stop the other models
        item.status, item.error = "failed", f"internal error (a bug in weightport): {type(error).__name__}: {error}"
    item.seconds = round(time.perf_counter() - started, 2)
    return item


def summary_table(items: Sequence[BatchItem]) -> str:
    """The batch as a table: source, format, tensors, seconds, status (and the error of a failed one)."""
    rows = [("source", "format", "tensors", "seconds", "status")]
    rows += [(item.source, item.format or "-", str(item.tensors), f"{item.seconds:.2f}",
              item.status if item.status == "ok" else f"failed: {item.error}") for item in items]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    failed = sum(item.status != "ok" for item in items)
    lines.append(f"\n{len(items) - failed} of {len(items)} converted" + (f", {failed} failed" if failed else ""))
    return "\n".join(lines)
