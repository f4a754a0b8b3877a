"""Package entry points that import their module on first use (PEP 562).

A capability's `__init__` names its public entry points; importing them eagerly would load Ibis,
pandas or FastAPI for every command, `flywheel --help` included. With `lazy_exports` the names stay
where readers look for them and cost nothing until used.

    __getattr__, __dir__ = lazy_exports(__name__, {"Gate": "flywheel.privacy.gate", ...})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, resolving each name from its module when asked."""

    def __getattr__(name: str) -> object:
        try:
            module = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
