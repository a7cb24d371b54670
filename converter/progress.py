"""A progress bar on stderr for conversions that take more than a moment.

Silent when stderr is not a terminal (pipes, CI logs) or before half a second has passed.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Called with bytes done; draws `label [#####.....] 42% 1.2/2.9 GB` at most ten times a second."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, delay: float = 0.5) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.start = time.monotonic()
        self.delay = delay
        self.drawn_at = 0.0
        self.drawn = False

    def __call__(self, nbytes: int) -> None:
        self.done += nbytes
        now = time.monotonic()
        if self.enabled and now - self.start >= self.delay and (now - self.drawn_at >= 0.1 or self.done >= self.total):
            self.drawn_at = now
            self.draw()

    def draw(self) -> None:
        fraction = min(self.done / self.total, 1.0)
        bar = "#" * int(30 * fraction) + "." * (30 - int(30 * fraction))
        self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} {self.done / 1e9:.2f}/{self.total / 1e9:.2f} GB")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.draw()
            self.stream.write("\n")
            self.stream.flush()
