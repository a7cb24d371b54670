"""A mapping's rules: how a converted tensor's key is renamed, and which rules rename nothing.

A mapping is a dict (full keys, or layer prefixes: {"dense_1": "fc1"}), a list of
(regex, replacement) rules (the first that matches renames a key), a function, None (keys
as they are) or "order" (pairing by order instead, see matching).
"""
from __future__ import annotations

import re
from typing import Any, Callable

from .errors import ArgumentError

Mapping = Any  # dict, list of (pattern, replacement), callable, or "order"


def unused_rules(mapping: Mapping, keys: list[str]) -> list[str]:
    """Entries of a dict or rule-list `mapping` that rename none of `keys`: usually a typo, so an error."""
    if mapping is None or callable(mapping) or mapping == "order":
        return []
    if isinstance(mapping, dict):
        prefixes = {key.rsplit(".", depth)[0] for key in keys for depth in range(1, key.count(".") + 1)}
        return [entry for entry in mapping if entry not in keys and entry not in prefixes]
    rules = [(pattern, re.compile(pattern)) for pattern, _ in mapping]
    first = {next((pattern for pattern, compiled in rules if compiled.search(key)), None) for key in keys}
    return [pattern for pattern, _ in rules if pattern not in first]


def check_rules_used(mapping: Mapping, keys: list[str], allow_unused: bool) -> None:
    """ArgumentError naming the rules that matched nothing, unless `allow_unused`."""
    unused = unused_rules(mapping, keys)
    if unused and not allow_unused:
        raise ArgumentError(f"{len(unused)} mapping rule(s) rename no tensor: {', '.join(map(repr, unused[:5]))}"
                            f"{' ...' if len(unused) > 5 else ''}; the keys are like {keys[0]!r} (see inspect); "
                            "pass --allow-unused (allow_unused=True) if that is intended")


def renamer(mapping: Mapping) -> Callable[[str], str | None]:
    """A key -> key function from a dict (keys or layer prefixes), a list of (regex, replacement), or a function."""
    if mapping is None:
        return lambda key: key
    if callable(mapping):
        return mapping
    if isinstance(mapping, dict):
        def by_dict(key: str) -> str | None:
            if key in mapping:
                return mapping[key]
            prefix, _, local = key.rpartition(".")
            while prefix:  # a layer (or nested model) prefix: dense_1 -> fc1
                if prefix in mapping:
                    return f"{mapping[prefix]}.{local}" if mapping[prefix] else local
                prefix, _, head = prefix.rpartition(".")
                local = f"{head}.{local}"
            return key

        return by_dict
    rules = [(re.compile(pattern), replacement) for pattern, replacement in mapping]

    def by_rules(key: str) -> str | None:
        for pattern, replacement in rules:  # the first rule that matches renames the key
            if pattern.search(key):
                return pattern.sub(replacement, key)
        return key

    return by_rules
