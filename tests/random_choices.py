"""How the random-graph generator (tests/random_graphs.py) decides: every decision goes through a `Chooser`,
seeded (sweeps/random_graphs.py) or drawn by hypothesis (tests/test_random_graphs.py), so one seed or one draw
is one graph."""
from __future__ import annotations

import random
from typing import Any, Protocol, Sequence, TypeVar

T = TypeVar("T")


class Chooser(Protocol):
    def integer(self, low: int, high: int) -> int: ...  # low..high inclusive
    def choice(self, options: Sequence[T]) -> T: ...
    def chance(self, probability: float) -> bool: ...


class SeededChooser:
    """Decisions from a seed: the long run's graphs, reproducible by number."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self.random.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.random.randrange(len(options))]

    def chance(self, probability: float) -> bool:
        return self.random.random() < probability


class DrawChooser:
    """Decisions drawn by hypothesis (`st.data()`), so a failing graph shrinks to a small one."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(self.st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.data.draw(self.st.integers(0, len(options) - 1))]

    def chance(self, probability: float) -> bool:
        return self.data.draw(self.st.integers(0, 99)) < probability * 100


def shape(value: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in value.shape[1:])
