"""Ollama's native API: ``/api/chat`` and ``/api/generate`` (JSON, or NDJSON streams), and
``/api/embed``.

The counts are on the reply's last object (``"done": true``): ``prompt_eval_count`` (input;
Ollama leaves it out when the whole prompt came from its cache, so absent is 0) and
``eval_count`` (output, thinking included). A model load or unload (``done_reason``
``"load"``/``"unload"``, sent for an empty request) generates nothing and is no call.
"""

from __future__ import annotations

import re
from typing import Any

from ..usage import Extracted, Part, make_usage
from .base import Declared, Endpoint, Provider, Route, Shape, field, json_object, usage_expected
from .lines import LastLine

_NO_CALL = frozenset({"load", "unload"})


def read(obj: object) -> Extracted | None:
    """What a final reply billed; None for a chunk that is not the last, or a (un)load."""
    if field(obj, "done") is False:
        return None
    if field(obj, "done_reason") in _NO_CALL:
        return None
    prompt = field(obj, "prompt_eval_count")
    output = field(obj, "eval_count")
    if prompt is None and output is None:
        if field(obj, "done") is None and field(obj, "embeddings") is None:
            return None  # not an Ollama reply at all (another service's /api/chat)
        raise ValueError("Ollama reply without prompt_eval_count or eval_count")
    model = field(obj, "model")
    usage = make_usage(
        input_tokens=0 if prompt is None else prompt, output_tokens=0 if output is None else output
    )
    return Extracted((Part(usage, model if isinstance(model, str) else None),))


class Stream(LastLine):
    """NDJSON: the ``"done": true`` line carries the counts; a stream closed before it arrived
    has no usage."""

    __slots__ = ()
    PATTERN = re.compile(rb'^.*"done"\s*:\s*true.*$', re.MULTILINE)

    def read(self, event: Any) -> Extracted | None:
        return read(event)


def declared(path: str, body: bytes) -> Declared | None:
    """The model and ``options.num_predict``; the input is not counted locally."""
    data = json_object(body)
    if data is None:
        return None
    model = data.get("model")
    options = data.get("options")
    cap = options.get("num_predict") if isinstance(options, dict) else None
    return Declared(
        model if isinstance(model, str) else None, cap if type(cap) is int and cap > 0 else 0
    )


GENERATE = Endpoint(
    "ollama",
    read,
    Stream,
    streams="application/x-ndjson",
    missing_usage=usage_expected,
    declared=declared,
)


def _claims(obj: object) -> bool:
    return field(obj, "eval_count") is not None or field(obj, "prompt_eval_count") is not None


PROVIDER = Provider(
    "ollama",
    routes=(Route("POST", ("/api/chat", "/api/generate", "/api/embed"), GENERATE),),
    shapes=(Shape(_claims, read),),
)
