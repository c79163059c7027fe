"""What could explain a change that is not ours (pure but for the installed versions): the model
ids that served the run's calls (the replies' ``model``, before aliases) with OpenAI's
``system_fingerprint`` values, the SDK versions installed, the price table's version.

A report keeps it as ``environment``; a baseline keeps the run's it was recorded from, so a
comparison can say what changed between them (``environment changed since the baseline: served
gpt-4o-2024-05-13 -> gpt-4o-2024-08-06``).

No ``from __future__ import annotations`` here: msgspec reads these annotations at run time.
"""

from typing import Dict, List, Optional

import msgspec

from .inert import inert

#: The distributions whose versions a report keeps, where installed: the SDKs capture reads and
#: the HTTP clients they send through.
SDKS = (
    "openai",
    "anthropic",
    "google-genai",
    "boto3",
    "botocore",
    "ollama",
    "litellm",
    "httpx",
    "httpx2",
    "aiohttp",
)


class Environment(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """A report's (and a baseline's) ``environment``."""

    #: Served model id -> the ``system_fingerprint`` values its replies carried (sorted).
    served_models: Dict[str, List[str]] = {}
    #: Distribution -> version, for each of :data:`SDKS` installed.
    sdks: Dict[str, str] = {}
    #: The price table's version (``pricing.version``).
    price_table: Optional[str] = None


def sdk_versions() -> dict[str, str]:
    """The installed versions of :data:`SDKS` (read from their metadata, nothing imported)."""
    from .installed import versions

    found = versions(SDKS)
    return {name: found[name] for name in SDKS if name in found}  # in SDKS' order


def changes(old: Environment, new: Environment) -> List[str]:
    """What differs between the baseline's environment and this run's, one phrase each:
    ``served gpt-4o-2024-05-13 -> gpt-4o-2024-08-06``, ``openai 1.2.0 -> 3.0.1``,
    ``system_fingerprint fp_1 -> fp_2 (gpt-4o)``, ``price table 2026-10-01 -> 2026-11-30``.
    Only what both sides state is compared (an old baseline states nothing)."""
    out = []
    gone = sorted(set(old.served_models) - set(new.served_models))
    came = sorted(set(new.served_models) - set(old.served_models))
    if old.served_models and new.served_models and (gone or came):
        out.append(f"served {_names(gone)} -> {_names(came)}")
    for model in sorted(set(old.served_models) & set(new.served_models)):
        before, after = old.served_models[model], new.served_models[model]
        if before and after and set(before) != set(after):
            out.append(f"system_fingerprint {_names(before)} -> {_names(after)} ({inert(model)})")
    for name in sorted(set(old.sdks) | set(new.sdks)):
        before_v, after_v = old.sdks.get(name), new.sdks.get(name)
        if old.sdks and new.sdks and before_v != after_v:
            out.append(f"{name} {before_v or 'not installed'} -> {after_v or 'not installed'}")
    if old.price_table and new.price_table and old.price_table != new.price_table:
        out.append(f"price table {inert(old.price_table)} -> {inert(new.price_table)}")
    return out


def _names(names: List[str]) -> str:
    return ", ".join(inert(n) for n in names) if names else "(none)"
