"""The price table shipped in the package: its file, its name in reports, and a pricer's
identity (the report's ``pricing``), readable without loading the table's rates (pure but for
reading the file)."""

from __future__ import annotations

import json
from importlib import resources

#: The report's ``pricing.source`` of the shipped table.
TABLE_SOURCE = "pytest-tokenbudget"


def table_text() -> str:
    """``prices.json``, the shipped table."""
    return resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")


def identity(version: str, genai: bool) -> tuple[str, str]:
    """A pricer's source and version from the table's ``version``, with genai-prices' when it
    prices what the table does not know (``genai``)."""
    if not genai:
        return TABLE_SOURCE, version
    from .genai import genai_version

    return f"{TABLE_SOURCE}+genai-prices", f"{version}; genai-prices {genai_version()}"


def unloaded_identity() -> tuple[str, str]:
    """:func:`identity` of the pricer ``table.load_pricer()`` would make, without making it:
    the table's version alone is read (a run that priced nothing loads no rates)."""
    from .genai import genai_available

    return identity(str(json.loads(table_text())["version"]), genai_available())
