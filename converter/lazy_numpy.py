"""numpy, imported on its first use.

`import converter`, and reading a file's structure (`inspect`, a conversion's plan), need none
of numpy, and importing it is most of what starting the command costs (0.15 to 0.2 s of 0.25 s
on a 2-core AMD EPYC). The modules that touch tensors write `np.` as usual; until then `np` is
this stand-in, which imports numpy on the first attribute asked of it and keeps each attribute
it hands out, so that after the first use a lookup costs what the module's own does.
"""
from __future__ import annotations

from typing import Any


class _Numpy:
    def __getattr__(self, name: str) -> Any:
        import numpy

        value = getattr(numpy, name)
        setattr(self, name, value)  # found in the instance from now on: __getattr__ runs once per name
        return value


np = _Numpy()
