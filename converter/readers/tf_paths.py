"""Which paths name a TensorFlow checkpoint or a SavedModel directory, told from the names and files alone.

Every read asks first (a checkpoint is several files, a SavedModel a folder); the modules that read
them (tf_checkpoint and what it imports, 3 ms of every start-up) are imported only for one.
"""
from __future__ import annotations

import os
import re

from ..errors import ReadError


def checkpoint_prefix(path: str) -> str | None:
    """The bundle prefix `path` names: PREFIX, PREFIX.index, a data shard, PREFIX.meta (the graph TF1's
    Saver writes beside the variables: not read), a folder with a `checkpoint` state file or that file
    (its latest), or None when `path` is none of these."""
    for suffix in (".index", ".meta"):
        if path.endswith(suffix) and os.path.isfile(path) and os.path.isfile(path[: -len(suffix)] + ".index"):
            return path[: -len(suffix)]
    if os.path.basename(path) == "checkpoint" and os.path.isfile(path):
        return _latest(os.path.dirname(path) or ".")
    shard = re.match(r"^(.*)\.data-\d{5}-of-\d{5}$", path)
    if shard and os.path.isfile(path) and os.path.isfile(shard.group(1) + ".index"):
        return shard.group(1)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "checkpoint")):
        return _latest(path)
    if not os.path.exists(path) and os.path.isfile(path + ".index"):
        return path
    return None


def _latest(folder: str) -> str:
    """The checkpoint a `checkpoint` state file names, which must lie in that folder."""
    with open(os.path.join(folder, "checkpoint"), encoding="utf-8", errors="replace") as handle:
        text = handle.read(1 << 20)
    found = re.search(r'^model_checkpoint_path:\s*"([^"\n]*)"', text, re.M)
    if not found:
        raise ReadError(f"{folder}/checkpoint: names no model_checkpoint_path")
    named = found.group(1)
    # TF1's Saver writes the absolute prefix it was given; the folder may have moved since. The checkpoint of
    # that name beside the state file is the one meant (tf.train.latest_checkpoint users do the same by hand);
    # nothing outside the folder is read.
    name = re.split(r"[/\\]", named)[-1]
    if name in ("", ".", "..") or not os.path.isfile(os.path.join(folder, name + ".index")):
        raise ReadError(f"{folder}/checkpoint: names {named!r}, and the folder holds no {name or '(no name)'}.index; "
                        "weightport reads only files in the folder given: name the checkpoint itself (PREFIX or "
                        "PREFIX.index)")
    return os.path.join(folder, name)


def is_saved_model(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


def saved_model_folder(path: str) -> str | None:
    """The SavedModel directory `path` names: the directory, or its `saved_model.pb` or `keras_metadata.pb`
    (users point at the file as often as at the folder); None for anything else."""
    if os.path.basename(path) in ("saved_model.pb", "keras_metadata.pb") and os.path.isfile(path):
        path = os.path.dirname(path) or "."
    return path if is_saved_model(path) else None


def variables_prefix(folder: str) -> str:
    """The checkpoint prefix of a SavedModel's variables, beside its saved_model.pb."""
    return os.path.join(folder, "variables", "variables")
