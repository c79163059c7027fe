"""The plugin's hooks (``hookspecs.py``) wired to capture, the tracker and the pricer, only
once something implements them: a hook nobody implements costs nothing on the record path.

The built-in providers answer ``pytest_tokenbudget_parse_response`` like any plugin. The
run's session plugin is a ``HookWiring`` (one plugin registered, not two: each costs start-up).
Every plugin object the package registers is a ``PluginObject`` (its ``dir()``: its hooks).
"""

from __future__ import annotations

import threading
from operator import methodcaller
from typing import TYPE_CHECKING, Any, Mapping

import pytest

from ..attribution import ATTRIBUTION

if TYPE_CHECKING:
    from ..pricing import LazyPricer
    from ..usage import Extracted, TokenCounts, Usage

#: Whether a name is a hook's (a filter run in C: ``dir()`` of the session lists 80 names).
_IS_HOOK = methodcaller("startswith", "pytest_")


class PluginObject:
    """A plugin object this package registers: ``dir()`` of one lists its hooks alone.

    pluggy finds a plugin's hooks by that listing, and pytest 9 looks for fixtures at every
    name it gives (``FixtureManager.parsefactories``, about 200 Python instructions a name):
    the session's 80 names, dunders and state included, cost every run ~15,000 of them, about
    2.3M CPU instructions. pytest takes hooks only from names starting ``pytest_`` (with
    ``specname`` too), so that is the listing. Attributes are all still there (``vars()``)."""

    def __dir__(self) -> list[str]:
        return list(filter(_IS_HOOK, object.__dir__(self)))


class HookWiring(PluginObject):
    """The built-in providers as a parser anyone may ask through the hook, and the wiring of
    the hooks somebody implements into capture, the tracker and the pricer: looked at when the
    run is configured (the root conftest.py, plugins) and once collection has registered every
    conftest.py."""

    def __init__(
        self, config: pytest.Config, prices: Mapping[str, Mapping[str, object]] | None, origin: str
    ) -> None:
        self.hook = config.hook
        self._prices, self._origin = prices, origin
        self._pricer: LazyPricer | None = None
        self._pricer_lock = threading.Lock()
        #: The ``pytest_tokenbudget_price`` hook's caller, when somebody implements it.
        self._price_hook: Any = None
        if prices:  # a bad price in the config stops the run before any test
            self._made_pricer()

    @property
    def pricer(self) -> LazyPricer:
        """The run's pricer, made (and its module loaded) when first needed: a run that prices
        nothing never imports the pricing package. Config prices make it at once."""
        return self._made_pricer()

    def _made_pricer(self) -> LazyPricer:
        with self._pricer_lock:
            if self._pricer is None:
                from ..pricing.pricer import LazyPricer

                made = LazyPricer(self._prices, self._origin)
                made.price_hook = self._price_hook
                self._pricer = made
            return self._pricer

    @pytest.hookimpl(tryfirst=True)
    def pytest_tokenbudget_parse_response(
        self, request: Any, response: Any
    ) -> dict[str, Any] | None:
        from ..providers import endpoint
        from ..providers.fields import to_fields

        found = endpoint(request.method, request.url.path)
        if found is None:
            return None
        read = found.read(response.json())
        return None if read is None else to_fields(read)

    def pytest_collection_finish(self) -> None:
        self.update()

    def update(self) -> None:
        hook = self.hook
        ATTRIBUTION.parse_response = (
            self.parse if self._implemented(hook.pytest_tokenbudget_parse_response) else None
        )
        price = self.price if self._implemented(hook.pytest_tokenbudget_price) else None
        with self._pricer_lock:
            self._price_hook = price
            made = self._pricer
        if made is not None:
            made.price_hook = price
        ATTRIBUTION.recorded = (
            self.usage_recorded
            if self._implemented(hook.pytest_tokenbudget_usage_recorded)
            else None
        )

    def _implemented(self, caller: Any) -> bool:
        return any(impl.plugin is not self for impl in caller.get_hookimpls())

    def parse(self, request: Any, response: Any) -> Extracted | None:
        from ..providers.fields import from_fields

        fields = self.hook.pytest_tokenbudget_parse_response(request=request, response=response)
        return None if fields is None else from_fields(fields)

    def price(self, model: str | None, usage: TokenCounts) -> int | None:
        from ..usage import usd_to_pico

        usd = self.hook.pytest_tokenbudget_price(model=model, usage=usage)
        return None if usd is None else usd_to_pico(usd, "pytest_tokenbudget_price")

    def usage_recorded(self, nodeid: str, usage: Usage) -> None:
        self.hook.pytest_tokenbudget_usage_recorded(nodeid=nodeid, usage=usage)
