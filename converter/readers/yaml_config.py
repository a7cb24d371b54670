"""Keras 2's `model.to_yaml()` (TensorFlow removed it in 2.6): a model config as YAML, read as data only.

Keras wrote it with PyYAML's `yaml.dump` (tuples as `!!python/tuple`) and read it with `yaml.load`, which runs
what a `!!python/object` tag names: the reason TensorFlow dropped it. Here PyYAML's SafeLoader reads it, a
`!!python/tuple` as a list (JSON's), any other Python tag refused. An alias stands for its anchor's whole value
again (a few KB of aliases of aliases for billions of values): the values are counted as expanded, within a
budget, then copied into a tree of JSON's types, as json.loads would give.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ..errors import MissingDependencyError, ReadError
from .limits import MAX_JSON_BYTES, check_depth

#: values of a config with every alias expanded: a 1,000-layer Keras config holds a few hundred thousand
MAX_VALUES = 5_000_000

#: a to_yaml() text's first key (yaml.dump sorts them: backend, class_name, config, keras_version)
_FIRST_KEY = re.compile(rb"\A\s*(?:#[^\n]*\n\s*)*(backend|class_name|config|keras_version)\s*:")


def looks_yaml(path: str, head: bytes) -> bool:
    """A YAML model config by its name or its first key (JSON starts with `{`)."""
    return path.lower().endswith((".yaml", ".yml")) or _FIRST_KEY.match(head) is not None


def parse_yaml(text: bytes, where: str) -> Any:
    """A model config from YAML text, or ReadError naming `where` (MissingDependencyError without PyYAML)."""
    if len(text) > MAX_JSON_BYTES:
        raise ReadError(f"{where}: {len(text)} bytes of YAML, more than the {MAX_JSON_BYTES >> 20} MB weightport "
                        "reads; this is not a config Keras wrote")
    try:
        import yaml
    except ImportError:
        raise MissingDependencyError(f"{where}: a YAML model config (Keras 2's model.to_yaml()) needs PyYAML: "
                                     "pip install pyyaml") from None

    class DataLoader(yaml.SafeLoader):  # a subclass: SafeLoader's own constructors stay as PyYAML ships them
        pass

    DataLoader.add_constructor("tag:yaml.org,2002:python/tuple",
                               lambda loader, node: loader.construct_sequence(node, deep=True))
    try:
        value = yaml.load(text, Loader=DataLoader)  # noqa: S506 (a SafeLoader: data tags only)
    except RecursionError:
        raise ReadError(f"{where}: YAML nested too deeply to be a Keras config") from None
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())[:200]
        raise ReadError(f"{where}: not a YAML model config Keras wrote ({detail})") from None
    _count_values(value, where)
    try:
        tree = json.loads(json.dumps(value))  # JSON's types, each alias a copy of its own
    except (TypeError, ValueError):
        raise ReadError(f"{where}: the YAML holds a value no Keras config has (a date, bytes or a set)") from None
    except RecursionError:
        raise ReadError(f"{where}: YAML nested too deeply to be a Keras config") from None
    check_depth(tree, where)
    return tree


def _count_values(value: Any, where: str) -> None:
    """ReadError past MAX_VALUES values, aliases counted as expanded; without recursion."""
    pending, count = [value], 0
    while pending:
        item = pending.pop()
        count += 1
        if count > MAX_VALUES:
            raise ReadError(f"{where}: the YAML stands for more than {MAX_VALUES:,} values once its aliases are "
                            "expanded; this is not a config Keras wrote")
        if isinstance(item, dict):
            pending.extend(item.values())
            count += len(item)  # the keys
        elif isinstance(item, list):
            pending.extend(item)
