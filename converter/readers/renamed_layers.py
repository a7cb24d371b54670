"""Weights whose layers hold other names than the architecture given beside them: a `model.to_json()` and a
`save_weights` file of two sessions (the JSON's `lstm_1`, the file's `lstm_3`: Keras numbers each class's layers
on, per session). The classic `model_from_json` + `load_weights("model.h5")` depends on Keras ignoring names.

A legacy `.h5`: Keras's own `load_weights` pairs the file's layers that hold weights with the model's in order.
weightport pairs by name (a nested model's weights are placed by their scopes' names), and by order only where
that order is unambiguous without knowing which config layers hold weights (paired_by_order).

A Keras 3 `.weights.h5` places each layer's weights by its path (class name and position), as Keras does; recent
Keras records each layer's name there too, which must then differ only as another session's would
(another_session).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import LayoutError
from ..graph import Layer
from .hdf5_tensors import attr_text, attribute

if TYPE_CHECKING:  # h5py is imported only for files that need it (a simple .weights.h5 is read without)
    import h5py


#: a layer name Keras made unique with a suffix: `conv2d_transpose_3` for `conv2d_transpose`
UNIQUIFIED = re.compile(r"(.+)_\d+")


def stem(name: str) -> str:
    """A layer name without the `_N` Keras adds to make it unique (`conv2d_transpose_3` -> `conv2d_transpose`)."""
    match = UNIQUIFIED.fullmatch(name)
    return match.group(1) if match else name


def paired_by_order(children: list[Layer], weighted: list[str]) -> dict[str, Layer] | None:
    """File layer name -> config layer, for the file's `weighted` layer names in file order; None when the pairing
    by order cannot be told from the names' stems (then names must match)."""
    candidates: dict[str, list[int]] = {}
    for index, layer in enumerate(children):
        if layer.class_name != "InputLayer":
            candidates.setdefault(stem(layer.name), []).append(index)
    taken: dict[str, int] = {}
    placed: list[int] = []
    for name in weighted:
        positions = candidates.get(stem(name), [])
        count = taken.get(stem(name), 0)
        if count >= len(positions):
            return None
        placed.append(positions[count])
        taken[stem(name)] = count + 1
    if any(taken.get(key, 0) != len(positions) for key, positions in candidates.items() if key in taken):
        return None  # a stem's layers left over: which of them hold weights is not known here
    if placed != sorted(placed):
        return None  # Keras would pair them in another order than their stems do
    return {name: children[index] for name, index in zip(weighted, placed)}


def _suffix(name: str) -> int:
    match = re.search(r"_(\d+)$", name)
    return int(match.group(1)) if match else 0


def another_session(renamed: list[tuple[str, str]]) -> bool:
    """Whether (file name, config name) pairs of layers read from their places differ as a model built again in
    another session would name them: each pair of one stem (`dense_4` for `dense_1`), and within a stem the file's
    numbers in the config's order (both count up as layers are made). Names a user chose never change so; two
    layers swapped would not keep that order."""
    by_stem: dict[str, list[tuple[int, int]]] = {}
    for stored, configured in renamed:
        if stem(stored) != stem(configured):
            return False
        by_stem.setdefault(stem(configured), []).append((_suffix(configured), _suffix(stored)))
    return all([stored for _, stored in sorted(pairs)] == sorted(stored for _, stored in pairs)
               for pairs in by_stem.values())


def check_name(group: h5py.Group, layer: Layer, where: str, renamed: list[tuple[str, str]] | None) -> None:
    # Recent Keras 3 files record the layer's real name: a disagreement means the numbering above does not match
    # how this file was written, so stop rather than guess; unless the architecture came apart from the weights
    # (`renamed` collects the pairs): a model built again in another session names its layers on, and Keras loads
    # weights by their place, names aside (renamed_note checks the pairs).
    recorded = attribute(group["vars"], "name", where) if "vars" in group else None
    if recorded is not None and attr_text(recorded) != layer.name:
        if renamed is not None:
            renamed.append((attr_text(recorded), layer.name))
            return
        raise LayoutError(
            f"{where}: the file names this layer {attr_text(recorded)!r} but the config's layer in its "
            f"place is {layer.name!r}; the architecture does not match these weights"
        )


def renamed_note(renamed: list[tuple[str, str]], where: str, notes: list[str]) -> None:
    """The note on weights whose layers hold other names than the architecture's, or the refusal where they differ
    otherwise than another session's would."""
    pairs = ", ".join(f"{stored} -> {configured}" for stored, configured in renamed[:12]) + \
        (f" and {len(renamed) - 12} more" if len(renamed) > 12 else "")
    if not another_session(renamed):
        raise LayoutError(f"{where}: the file names its layers otherwise than the architecture in their places "
                          f"({pairs}); the architecture does not match these weights")
    notes.append(f"the file's layers hold other names than the architecture's (a model built again in another "
                 f"session): each read from its place, as Keras's load_weights does ({pairs})")
