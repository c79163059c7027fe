"""Names of a package loaded from their modules when first asked for (PEP 562), so that importing
the package (as every pytest run does for the plugin) loads none of those modules."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Mapping


def lazy_names(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``modules`` (name -> its module,
    relative to the package) is read from its module, imported on first use. It is not kept in
    the package: a module removed from ``sys.modules`` (pytester's in-process runs restore
    ``sys.modules`` after each) is imported anew, and its names with it, never a stale class.
    The package's own ``__getattr__`` refuses a name not in ``modules`` before it loads this
    module (``from . import submodule`` asks the package first)."""

    def __getattr__(name: str) -> Any:
        return getattr(import_module(f"{package}.{modules[name]}"), name)

    return __getattr__
