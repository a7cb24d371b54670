"""numpy, imported on its first use.

`import converter`, and reading a file's structure (`inspect`, a conversion's plan), need none
of numpy, and importing it is most of what starting the command costs (0.15 to 0.2 s of 0.25 s
on a 2-core AMD EPYC). The modules that touch tensors write `np.` as usual; until then `np` is
this stand-in, which imports numpy on the first attribute asked of it and keeps each attribute
it hands out, so that after the first use a lookup costs what the module's own does.
"""
from __future__ import annotations

import gc
import sys
from typing import Any


class _Numpy:
    def __getattr__(self, name: str) -> Any:
        if "numpy" not in sys.modules:
            _import_numpy()
        import numpy

        value = getattr(numpy, name)
        setattr(self, name, value)  # found in the instance from now on: __getattr__ runs once per name
        return value


np = _Numpy()


def _import_numpy() -> None:
    """numpy imported with the garbage collector paused (as it was left): its import makes thousands of objects
    and no garbage, and the 25 collections they trigger only walk them (3 ms of its 45 ms, medians of 20 runs)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        import numpy  # noqa: F401
    finally:
        if collecting:
            gc.enable()
