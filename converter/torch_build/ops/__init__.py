"""How each Keras layer kind is written in a generated forward; importing this registers them all."""
from __future__ import annotations

import pkgutil
from importlib import import_module

for _module in pkgutil.iter_modules(__path__):
    import_module(f"{__name__}.{_module.name}")
