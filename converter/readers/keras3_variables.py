"""A subclassed Keras 3 model's weights file: no layers, its variables grouped by the object holding
them (`encoder/proj/vars/0`), the top-level groups named after the model's attributes."""
from __future__ import annotations

import itertools
from typing import Any

from ..config import Config
from ..errors import ReadError
from ..graph import RAW_VARIABLES, Layer
from .hdf5_tensors import is_dataset, is_group, numeric_key, tensor_from_dataset, text_name

StoreOf = Any  # a function giving the Store of a dataset (sharded weights: each shard's own)


def refuse_twice(sorted_names: list[str], where: str) -> None:
    """libhdf5 lists both links of a crafted group that names two objects alike: which is the variable?"""
    twice = next((name for name, after in zip(sorted_names, sorted_names[1:]) if name == after), None)
    if twice is not None:
        raise ReadError(f"{where}/{twice}: the file names two objects alike; it is damaged or crafted")


def has_datasets(group: Any) -> bool:
    if is_dataset(group):
        return True
    found: list[str] = []
    group.visititems(lambda name, item: found.append(name) if is_dataset(item) else None)
    return bool(found)


#: top-level groups of a Keras 3 weights file that are not a subclassed model's attributes
NOT_ATTRIBUTES = ("layers", "vars", "optimizer", "_layer_checkpoint_dependencies", "metrics")


def attribute_groups(h5: Any) -> list[str]:
    """Top-level groups named after a subclassed model's attributes (`encoder`, `blocks`), holding variables."""
    try:
        names = [text_name(name) for name in itertools.islice(iter(h5), 10_000)]
        return [name for name in names if name not in NOT_ATTRIBUTES and is_group(h5[name])
                and has_datasets(h5[name])]
    except (KeyError, OSError, TypeError, ValueError):
        return []


def variable_groups(h5: Any, where: str, store_of: StoreOf) -> list[Layer]:
    """A subclassed model's variables: one `Variables` group per object that holds `vars/<i>`
    (`encoder/proj`, `layers/lstm/cell`), its tensors `vars/0`, `vars/1`... in Keras's order."""
    found: dict[tuple[str, ...], list[tuple[str, Any]]] = {}
    elsewhere: list[str] = []

    def visit(name: str | bytes, item: Any) -> None:
        parts = tuple(text_name(name).split("/"))
        if not is_dataset(item) or parts[0] == "optimizer":
            return
        if len(parts) >= 2 and parts[-2] == "vars":
            found.setdefault(parts[:-2], []).append((parts[-1], item))
        else:
            elsewhere.append("/".join(parts))

    h5.visititems(visit)
    if elsewhere:  # a custom save_own_variables: what those bytes are, only that code knows
        raise ReadError(f"{where}: {len(elsewhere)} dataset(s) outside any object's vars ({', '.join(elsewhere[:3])}), "
                        "written by a class's own saving code; convert the live model instead (--import)")
    layers = []
    for path, datasets in found.items():
        datasets.sort(key=lambda pair: numeric_key(pair[0]))
        prefix = "/".join(path)
        refuse_twice([name for name, _ in datasets], f"{where}/{prefix}/vars")
        tensors = [tensor_from_dataset(dataset, f"vars/{index}", f"{where}/{prefix}/vars/{index}",
                                       store_of(dataset)) for index, dataset in datasets]
        layers.append(Layer(name=prefix or "model", class_name=RAW_VARIABLES, config=Config({}),
                            path=path or ("model",), has_config=False, tensors=tensors))
    return layers
