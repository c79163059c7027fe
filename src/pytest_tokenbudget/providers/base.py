"""What every provider module builds on: the seam's types and the wire helpers they share.

A provider says which requests are its own (``Route``: a method and the end of the path, so a
base URL never matters), how to read what each reply billed (``Endpoint``) and how to recognise
its replies by shape alone (``Shape``), for ``token_tracker.record(response)``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping, Protocol

from ..usage import Extracted, check_count

#: A stream the request asked usage of, that ended (or was closed) before the usage arrived.
NOTE_CLOSED_EARLY = "stream closed before its usage arrived"


def usage_expected(request_body: bytes | None, ended: bool) -> str:
    """``Endpoint.missing_usage`` of a provider whose streams always end with their usage: a
    stream without it, ended or closed early, is an uncounted call."""
    return NOTE_CLOSED_EARLY


def closed_early(request_body: bytes | None, ended: bool) -> str | None:
    """``Endpoint.missing_usage`` of a call billed whether or not its stream was read: one
    closed before its usage arrived is noted; one that ended without usage is no call (an
    error event)."""
    return None if ended else NOTE_CLOSED_EARLY


class StreamReader(Protocol):
    """Reads one streamed reply: fed its raw decoded bytes in any chunking, then asked once."""

    def feed(self, chunk: bytes) -> None: ...

    def result(self, ended: bool = True) -> Extracted | None:
        """What the stream billed; None when it carried no usage. ``ended``: it reached its
        end (else it was closed early: what arrived so far)."""


def model_in_body(path: str, body: bytes) -> str | None:
    """The ``model`` a JSON request body names (OpenAI, Anthropic and their look-alikes)."""
    try:
        model = json.loads(body).get("model")
    except Exception:
        return None
    return model if isinstance(model, str) else None


#: The request fields that declare an output cap, in the order they are looked for.
OUTPUT_CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


# Plain classes, not dataclasses or NamedTuples: capture imports this module whenever a run
# starts, and generating those classes' methods would cost the run more than all the rest here.
class Declared:
    """What a request says of its size before it is sent, for spend protection's estimate."""

    __slots__ = ("model", "output_cap", "overhead", "texts")

    def __init__(
        self,
        model: str | None,
        output_cap: int = 0,
        texts: tuple[str, ...] = (),
        overhead: int = 0,
    ) -> None:
        self.model = model
        #: Its declared output cap (``max_tokens`` ...), 0 when it declares none.
        self.output_cap = output_cap
        #: Its input's texts, to count locally; empty when it cannot be counted.
        self.texts = texts
        #: Tokens the input bills beyond its texts (per-message framing, token-id inputs).
        self.overhead = overhead


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


class Endpoint:
    """Provider requests whose replies are read alike, and how to read what they billed."""

    __slots__ = ("declared", "missing_usage", "name", "read", "request_model", "stream", "streams")

    def __init__(
        self,
        name: str,
        read: Callable[[Any], Extracted | None],
        stream: Callable[[], StreamReader],
        *,
        streams: str = "text/event-stream",
        missing_usage: Callable[[bytes | None, bool], str | None] | None = None,
        request_model: Callable[[str, bytes], str | None] = model_in_body,
        declared: Callable[[str, bytes], Declared | None] = declared_in_body,
    ) -> None:
        self.name = name
        #: What a whole reply billed, given its decoded JSON; None when it carries no final
        #: usage. Raises (ValueError) on figures no real reply carries.
        self.read = read
        #: A reader for a streamed reply of content type ``streams``; others are read whole.
        self.stream = stream
        self.streams = streams
        #: Given the request body (None when it cannot be re-read) and whether the stream
        #: reached its end (else it was closed early): the note for a stream without usage
        #: that is a billed call; None (or no function): such a stream is no call.
        self.missing_usage = missing_usage
        #: The model the request asked for (path, body), for a reply that names none.
        self.request_model = request_model
        #: What a request (path, body) declares of its size before it is sent; None if unknown.
        self.declared = declared

    def __repr__(self) -> str:
        return f"<Endpoint {self.name}>"


class Route:
    """``method`` requests to ``endpoint``: their path ends with ``path`` (a suffix, or a tuple
    of suffixes) or matches it (a pattern, searched). A base URL never matters.

    ``within``: a suffix route applies only to paths that also contain this text (Bedrock's
    ``/model/{id}/invoke``, not any ``/invoke``); it costs nothing on the paths that miss.
    """

    __slots__ = ("endpoint", "method", "path", "within")

    def __init__(
        self,
        method: str,
        path: str | tuple[str, ...] | re.Pattern[str],
        endpoint: Endpoint,
        *,
        within: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.endpoint = endpoint
        self.within = within


class Shape:
    """A reply object (SDK model or dict) that ``claims`` recognises is read by ``read``.

    ``shared``: the shape may be another provider's too (tried after every provider's own).
    """

    __slots__ = ("claims", "read", "shared")

    def __init__(
        self,
        claims: Callable[[Any], bool],
        read: Callable[[Any], Extracted | None],
        shared: bool = False,
    ) -> None:
        self.claims = claims
        self.read = read
        self.shared = shared


class Provider:
    """Everything the registry needs of one provider."""

    __slots__ = ("name", "routes", "shapes", "unwrap")

    def __init__(
        self,
        name: str,
        routes: tuple[Route, ...],
        shapes: tuple[Shape, ...] = (),
        unwrap: Callable[[Any], Any] | None = None,
    ) -> None:
        self.name = name
        self.routes = routes
        self.shapes = shapes
        #: The reply an event of this provider wraps (a stream event given to ``record()``).
        self.unwrap = unwrap


def field(obj: object, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for SDK models; None when absent."""
    if isinstance(obj, dict):  # the wire: checked first, a Mapping check costs ~0.3 µs
        return obj.get(name)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def count(obj: object, name: str) -> int:
    """A count field, 0 when absent; ValueError naming the field (as the wire names it) when
    it holds a count no real reply carries (negative, not an integer, above 2**53)."""
    value = field(obj, name)
    return 0 if value is None else check_count(name, value)


def is_object(value: object) -> bool:
    """A JSON object or an SDK model: not absent, null, a number, text or a list."""
    return value is not None and not isinstance(value, (str, bytes, int, float, list, tuple))


def usage_object(obj: object) -> Any:
    """``obj``'s ``usage`` when it is an object (not absent, null, a number, text or a list)."""
    usage = field(obj, "usage")
    return usage if is_object(usage) else None
