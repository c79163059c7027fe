"""The run's pricer: the price table loaded on the first price asked, so pytest start-up (and a
run that prices nothing) never pays for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping

if TYPE_CHECKING:
    from ..usage import TokenCounts, Usage
    from .table import PriceTable


class LazyPricer:
    """Loads the price table on the first price asked: pytest start-up never pays for it.

    Config overrides are validated at once (a bad price must stop the run before any test).
    """

    def __init__(self, prices_config: Mapping[str, Mapping[str, object]] | None, origin: str):
        self._config, self._origin = prices_config, origin
        self._pricer: PriceTable | None = None
        self._hook: Callable[[str | None, TokenCounts], int | None] | None = None
        #: Models priced before at flat rates (no long-context tier, every rate of a call
        #: without 1-hour cache writes given): their (input, output, cache_read, cache_write)
        #: picodollars per token; None for a model priced otherwise. ``record()`` prices a
        #: model seen before from here, in one lookup. Emptied when the price hook changes.
        self.flat: dict[str, tuple[int, int, int, int] | None] = {}
        #: The Usage of a call ``record()`` priced from :attr:`flat`, by (model, its five
        #: token counts), given again for the same figures (a frozen value: reused, not
        #: rebuilt). Emptied with :attr:`flat`; at most ``sums.MAX_CALLS`` kept.
        self.calls: dict[tuple[str | None, int, int, int, int, int], Usage] = {}
        if prices_config:
            self._pricer = self.get()

    @property
    def price_hook(self) -> Callable[[str | None, TokenCounts], int | None] | None:
        """Consulted before the table (the ``pytest_tokenbudget_price`` hook): picodollars, or
        None to let the table price it. None while nobody implements the hook."""
        return self._hook

    @price_hook.setter
    def price_hook(self, hook: Callable[[str | None, TokenCounts], int | None] | None) -> None:
        self._hook = hook
        self.flat.clear()
        self.calls.clear()

    def identity(self) -> dict[str, str]:
        """The report's ``pricing`` (source and version), without loading the table when no
        price was asked (a run that made no call)."""
        if self._pricer is None:
            from .shipped import unloaded_identity

            source, version = unloaded_identity()
        else:
            source, version = self._pricer.source, self._pricer.version
        return {"source": source, "version": version}

    def get(self) -> PriceTable:
        if self._pricer is None:
            from .table import load_pricer

            self._pricer = load_pricer(self._config, origin=self._origin)
        return self._pricer

    def cost_pico(
        self, model: str | None, usage: TokenCounts, *, cache_write_1h_tokens: int = 0
    ) -> int | None:
        hook = self._hook
        if hook is not None:
            cost = hook(model, usage)
            if cost is not None:
                return cost
        table = self._pricer if self._pricer is not None else self.get()
        if hook is None and model is not None and model not in self.flat:
            self._learn(table, model)
        return table.cost_pico(model, usage, cache_write_1h_tokens=cache_write_1h_tokens)

    def _learn(self, table: PriceTable, model: str) -> None:
        """Keep ``model``'s rates in :attr:`flat`."""
        from .genai import MAX_RESOLVED

        if len(self.flat) >= MAX_RESOLVED:
            return
        rates = table.rates(model)
        flat: tuple[int, int, int, int] | None = None
        if rates is not None and rates.long_context is None:
            inp, out, read, write = rates.input, rates.output, rates.cache_read, rates.cache_write
            if inp is not None and out is not None and read is not None and write is not None:
                flat = (inp, out, read, write)
        self.flat[model] = flat
