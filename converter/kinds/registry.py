"""The one registry of Keras kinds: a layer or an operation, its weight rule and its forward.

A kind is keyed by its qualified identity (`keras.layers.Dense`, `keras.ops.numpy.Add`;
see `keras_names.qualified_name`), with the aliases Keras writes (`Convolution2D`), so that a
Keras 3 operation recorded in a graph is never taken for the layer of the same name.
Each kind lives in one module of this package and registers itself with `register`.

A kind's module is imported the first time one of its names is asked for (the generated
table `index.MODULES` says which module registers which name): a conversion imports the
few kinds its model uses, not all fifty (their imports were a tenth of `import converter`).
"""
from __future__ import annotations

import os
import pkgutil
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, replace
from importlib import import_module
from types import FrameType
from typing import Callable

from ..config import Config
from ..conversion import LayerConversion
from ..graph import Layer
from .forward import Forward
from .index import MODULES
from .rules import Context, Variable

Convert = Callable[[Layer, Context], LayerConversion]


def _supported(layer: Layer) -> str | None:
    return None


@dataclass(frozen=True)
class Kind:
    """One Keras kind: what its weights are and become, and how it is written in a forward.

    A kind without weights has no `variables` or `convert`; a kind whose module cannot be
    built yet has no `forward` (its weights still convert). `unsupported(layer)` says why a
    layer of this kind cannot convert, or None. `module`, `description` and `tested` fill
    the README's table.
    """

    name: str  # qualified: keras.layers.Dense
    module: str = "-"  # the PyTorch module, as the README table shows it
    description: str = ""
    tested: str = ""
    variables: Callable[[Config], list[Variable]] | None = None
    convert: Convert | None = None
    forward: Forward | None = None
    unsupported: Callable[[Layer], str | None] = _supported
    aliases: tuple[str, ...] = ()
    quantized: tuple[str, ...] = ()  # the Keras 3 quantization modes its rule dequantizes ("int8")
    # puts a configured layer's tensors in its variables' order where a file lists them otherwise
    stored_order: Callable[[Layer], None] | None = None

    @property
    def class_name(self) -> str:
        return self.name.rsplit(".", 1)[1]

    @property
    def weighted(self) -> bool:
        return self.convert is not None


class Registry(MutableMapping[str, Kind]):
    """Every name and alias -> its kind; a name's module is imported when the name is first looked up,
    and every module of the package when the registry is listed."""

    def __init__(self) -> None:
        self.kinds: dict[str, Kind] = {}
        self.modules: dict[str, str] = {}  # name -> the module whose import registered it (the index's source)
        self.everything = False

    def __getitem__(self, name: str) -> Kind:
        self._import(name)
        return self.kinds[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __setitem__(self, name: str, kind: Kind) -> None:
        self._import(name)  # first, or importing the module later would overwrite `kind`
        self.kinds[name] = kind

    def __delitem__(self, name: str) -> None:
        del self.kinds[name]

    def __iter__(self) -> Iterator[str]:
        self.load_all()
        return iter(dict(self.kinds))

    def __len__(self) -> int:
        self.load_all()
        return len(self.kinds)

    def _import(self, name: str) -> None:
        if name not in self.kinds and name in MODULES:
            import_module(f"{__package__}.{MODULES[name]}")  # registers its kinds

    def load_all(self) -> None:
        """Import every module of the package (each registers its kinds), whether the index names it or not."""
        if not self.everything:
            for module in pkgutil.iter_modules([os.path.dirname(__file__)]):
                if module.name not in ("__main__", "index"):
                    import_module(f"{__package__}.{module.name}")
            self.everything = True


KINDS = Registry()


def register(kind: Kind) -> Kind:
    """Add `kind` under its name and aliases; two kinds may not claim one name."""
    module = _importing_module()
    for name in (kind.name,) + kind.aliases:
        if name in KINDS.kinds:
            raise RuntimeError(f"two kinds claim {name}")
        KINDS.kinds[name] = kind
        KINDS.modules[name] = module
    return kind


def _importing_module() -> str:
    """The short name of the innermost module being imported up the stack (the one `register` was called
    from, or that called a helper such as `register_recurrent`): importing it registers the kind."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    name = str(frame.f_globals.get("__name__", "")) if frame is not None else ""
    return name.removeprefix(f"{__package__}.")


def index_source() -> str:
    """The text of `index.py`: every registered name -> the module that registers it."""
    KINDS.load_all()
    lines = [f'    "{name}": "{module}",' for name, module in sorted(KINDS.modules.items())]
    return ('"""Generated by `python -m converter.kinds --index`: which module of this package registers each kind\'s '
            'name and alias\n(the registry imports it on first lookup). A test checks it against the registry."""\n\n'
            "MODULES: dict[str, str] = {\n" + "\n".join(lines) + "\n}\n")


def layer_names(*class_names: str) -> tuple[str, ...]:
    """`keras.layers.<class>` for each class name: the aliases of a layer kind."""
    return tuple(f"keras.layers.{name}" for name in class_names)


def lookup(layer: Layer) -> Kind | None:
    """The kind of `layer`, or None when no kind of that identity is registered.

    An operation whose module the file did not record (`keras.ops.Multiply`, from Keras 3's
    legacy `.h5` writer) is the one operation of that class name, when exactly one exists.
    """
    kind = KINDS.get(layer.kind)
    if kind is None and layer.kind.count(".") == 2 and layer.kind.startswith("keras.ops."):
        matches = {id(k): k for name, k in KINDS.items()
                   if name.startswith("keras.ops.") and name.rsplit(".", 1)[1] == layer.class_name}
        kind = next(iter(matches.values())) if len(matches) == 1 else None
    return kind


def wrapped_kind(config: Config, wrapper: str) -> Kind | None:
    """The kind of the layer a wrapper (TimeDistributed, SpectralNormalization) holds; None if it has none."""
    inner = config.get("layer")
    class_name = inner.get("class_name") if isinstance(inner, dict) else None
    found = KINDS.get(f"keras.layers.{class_name}") if isinstance(class_name, str) else None
    return found if found is not None and found.name != f"keras.layers.{wrapper}" else None


def wrapped_variables(found: Kind | None, inner: Config) -> list[Variable]:
    """The variables of a wrapped layer of kind `found`, stored under the wrapper's `layer/`."""
    if found is None or found.variables is None:
        return []
    return [replace(v, store_path="layer/" + v.store_path) for v in found.variables(inner)]


def distinct() -> list[Kind]:
    """Every registered kind once (aliases folded), by name."""
    return sorted({id(kind): kind for kind in KINDS.values()}.values(), key=lambda kind: kind.name)
