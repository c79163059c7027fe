"""What every provider module builds on: the seam's types and the wire helpers they share.

A provider says which requests are its own (``Route``: a method and the end of the path, so a
base URL never matters), how to read what each reply billed (``Endpoint``) and how to recognise
its replies by shape alone (``Shape``), for ``token_tracker.record(response)``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple, Protocol

from ..usage import Extracted

#: A stream the request asked usage of, that ended (or was closed) before the usage arrived.
NOTE_CLOSED_EARLY = "stream closed before its usage arrived: not counted"


class StreamReader(Protocol):
    """Reads one streamed reply: fed its raw decoded bytes in any chunking, then asked once."""

    def feed(self, chunk: bytes) -> None: ...

    def result(self) -> Extracted | None:
        """What the stream billed (final once it ended); None when it carried no usage."""


def model_in_body(path: str, body: bytes) -> str | None:
    """The ``model`` a JSON request body names (OpenAI, Anthropic and their look-alikes)."""
    try:
        model = json.loads(body).get("model")
    except Exception:
        return None
    return model if isinstance(model, str) else None


#: The request fields that declare an output cap, in the order they are looked for.
OUTPUT_CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


class Declared(NamedTuple):
    """What a request says of its size before it is sent, for spend protection's estimate."""

    model: str | None
    #: Its declared output cap (``max_tokens`` ...), 0 when it declares none.
    output_cap: int = 0
    #: Its input's texts, to count locally; empty when it cannot be counted.
    texts: tuple[str, ...] = ()
    #: Tokens the input bills beyond its texts (per-message framing, token-id inputs).
    overhead: int = 0


def output_cap(body: Mapping[str, Any]) -> int:
    """The first declared output cap of a JSON request body; 0 when there is none."""
    for name in OUTPUT_CAPS:
        value = body.get(name)
        if type(value) is int and value > 0:
            return value
    return 0


def json_object(body: bytes) -> dict[str, Any] | None:
    """A request body's JSON object; None for anything else."""
    try:
        data = json.loads(body)
    except Exception:
        return None
    return data if isinstance(data, dict) else None


def declared_in_body(path: str, body: bytes) -> Declared | None:
    """Model and output cap of a JSON request body; its input is not counted."""
    data = json_object(body)
    if data is None:
        return None
    model = data.get("model")
    return Declared(model if isinstance(model, str) else None, output_cap(data))


@dataclass(frozen=True)
class Endpoint:
    """Provider requests whose replies are read alike, and how to read what they billed."""

    name: str
    #: What a whole reply billed, given its decoded JSON; None when it carries no final usage.
    #: Raises (ValueError) on figures no real reply carries.
    read: Callable[[Any], Extracted | None]
    #: A reader for a streamed reply of content type ``streams``; other replies are read whole.
    stream: Callable[[], StreamReader]
    streams: str = "text/event-stream"
    #: Given the request body (None when it cannot be re-read): the note for a stream that
    #: ended without usage although it is a billed call. None here: such a stream is no call.
    missing_usage: Callable[[bytes | None], str] | None = None
    #: The model the request asked for (path, body), for a reply that does not name its own.
    request_model: Callable[[str, bytes], str | None] = model_in_body
    #: What a request (path, body) declares of its size before it is sent; None if unknown.
    declared: Callable[[str, bytes], Declared | None] = declared_in_body


class Route(NamedTuple):
    """``method`` requests to ``endpoint``: their path ends with ``path`` (a suffix, or a tuple
    of suffixes) or matches it (a pattern, searched). A base URL never matters."""

    method: str
    path: str | tuple[str, ...] | re.Pattern[str]
    endpoint: Endpoint


class Shape(NamedTuple):
    """A reply object (SDK model or dict) ``claims`` recognises is read by ``read``.

    ``shared``: the shape may be another provider's too (tried after every provider's own).
    """

    claims: Callable[[Any], bool]
    read: Callable[[Any], Extracted | None]
    shared: bool = False


@dataclass(frozen=True)
class Provider:
    """Everything the registry needs of one provider."""

    name: str
    routes: tuple[Route, ...]
    shapes: tuple[Shape, ...] = ()
    #: The reply an event of this provider wraps (a stream event given to ``record()``).
    unwrap: Callable[[Any], Any] | None = None


def field(obj: object, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for SDK models; None when absent."""
    if isinstance(obj, dict):  # the wire: checked first, a Mapping check costs ~0.3 µs
        return obj.get(name)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def count(obj: object, name: str) -> Any:
    """A count field, 0 when absent (validated where the usage is made)."""
    value = field(obj, name)
    return 0 if value is None else value


def usage_object(obj: object) -> Any:
    """``obj``'s ``usage`` when it is an object (not absent, null, a number, text or a list)."""
    usage = field(obj, "usage")
    if usage is None or isinstance(usage, (str, int, float, list)):
        return None
    return usage
