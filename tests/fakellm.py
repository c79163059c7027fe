"""A loopback fake LLM server: OpenAI and Anthropic wire formats, JSON and SSE, chosen usage.

Tests script replies in PRODUCT.md's usage meaning (``input_tokens`` includes cache reads and
writes) and the server renders each provider's own wire shape, so the plugin's normalisation is
checked against figures computed independently here. ``server.log`` lists what was served and
whether PRODUCT.md says it counts (errors, in-progress polls, chat streams without
``include_usage`` and repeated polls of one background response do not), and whether it is an
uncounted call (a chat stream without ``include_usage``; a reply whose figures no real reply
carries, scripted to test that: a count that is negative, not an integer or above 2**53, or
Anthropic ``iterations`` that are not a list of objects).

A reply is chosen per request: the ``x-fake-reply`` header (a JSON object of :class:`Reply`
fields; works from any process, e.g. pytester runs under ``-n 2``), else the next queued reply,
else the default :class:`Reply`. Inner pytester runs find the server through
``TOKENBUDGET_FAKE_LLM`` (its base URL), set by the ``fake_llm`` fixture.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

ENV = "TOKENBUDGET_FAKE_LLM"
FIGURES = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
TEXT = '{"answer": "fake"}'  # valid JSON, so `.parse()` helpers have something to parse


#: The other providers' renderers: ``tests/fakeproviders.py`` adds its own when imported (this
#: module also serves alone, copied beside a suite of its own).
OTHERS: list[Callable[..., Any]] = []


@dataclass(frozen=True)
class Reply:
    """One scripted reply, figures in PRODUCT.md's meaning."""

    input_tokens: int = 12
    output_tokens: int = 5
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: Anthropic: part of ``cache_write_tokens`` written with the 1-hour TTL.
    cache_write_1h_tokens: int = 0
    #: Anthropic streams: ``message_start``'s input (server tools make the final one larger).
    start_input_tokens: int | None = None
    model: str | None = None  # default: the request's model
    status: int = 200
    #: Anthropic ``usage.iterations``, wire shape, sent as-is (the test states the figures;
    #: anything but a list of objects makes the reply unreadable).
    iterations: Any = None
    #: Streams: send this many events, then wait for :meth:`FakeLLM.release` (early-break tests
    #: need the rest of the body to be really unsent, not merely unread).
    pause_after: int | None = None
    #: Hold this reply until ``hold`` requests with the same ``hold_key`` arrived (a barrier, at
    #: most 10 s): requests really in flight at once, with no sleeps.
    hold: int | None = None
    hold_key: str = ""
    #: Gemini: the part of ``input_tokens`` that tools fed back (``toolUsePromptTokenCount``).
    tool_use_tokens: int = 0
    #: OpenRouter: what it says it billed (``usage.cost``, USD).
    cost_usd: float | None = None
    #: An OpenAI-compatible service's own wire details: "groq" (a stream's usage under
    #: ``x_groq``, always sent), "deepseek" (``prompt_cache_hit_tokens``), "" for OpenAI's.
    flavor: str = ""
    #: OpenAI chat: the ``system_fingerprint`` the reply (and each stream chunk) carries.
    fingerprint: str | None = None
    #: Gemini, Ollama, Bedrock: the reply leaves its usage out (an uncounted call).
    without_usage: bool = False
    #: Streams: the line end ("\n", "\r" or "\r\n", all valid SSE) and whether each event's
    #: JSON is spread over several ``data:`` lines (with a comment among them), as SSE allows.
    line_end: str = "\n"
    multiline: bool = False

    def header(self) -> dict[str, str]:
        """``extra_headers=`` for an SDK call that should get this reply."""
        return {"x-fake-reply": json.dumps(asdict(self))}


@dataclass
class Served:
    """One response the server sent."""

    method: str
    path: str
    status: int
    stream: bool
    model: str | None
    response_id: str | None
    usage: dict[str, int] | None  # PRODUCT.md meaning; None when it carries no usage
    counted: bool  # whether PRODUCT.md counts it as a call
    hold_key: str = ""  # the reply's ``hold_key``: which barrier it waited at
    #: An LLM call whose usage cannot be counted: PRODUCT.md's ``uncounted_calls``.
    uncounted: bool = False
    cost_usd: float | None = None  # what the reply says it billed (OpenRouter)


@dataclass
class FakeLLM:
    """The running server: script it, point SDK clients at it, read its log."""

    url: str
    log: list[Served] = field(default_factory=list)
    _queue: deque[Reply] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _background: dict[str, dict[str, Any]] = field(default_factory=dict)
    _polled: set[str] = field(default_factory=set)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _gate: threading.Event = field(default_factory=threading.Event)
    _arrived: dict[str, int] = field(default_factory=dict)
    _barrier: threading.Condition = field(default_factory=threading.Condition)

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    def queue(self, *replies: Reply, **figures: Any) -> None:
        """Queue replies (or one ``Reply(**figures)``) for the next requests, in order."""
        with self._lock:
            self._queue.extend(replies or (Reply(**figures),))

    queue_openai_chat = queue_anthropic = queue

    def error(self, status: int) -> None:
        self.queue(Reply(status=status))

    def counted(self) -> list[Served]:
        with self._lock:
            return [s for s in self.log if s.counted]

    def totals(self) -> dict[str, int]:
        """Sum of what counts, as the plugin should report it (plus ``calls`` and
        ``uncounted_calls``)."""
        out = dict.fromkeys((*FIGURES, "calls"), 0)
        for served in self.counted():
            assert served.usage is not None
            for name in FIGURES:
                out[name] += served.usage[name]
            out["calls"] += 1
        out["total_tokens"] = out["input_tokens"] + out["output_tokens"]
        with self._lock:
            out["uncounted_calls"] = sum(s.uncounted for s in self.log)
        return out

    def release(self) -> None:
        """Let paused streams (``Reply(pause_after=N)``) send the rest."""
        self._gate.set()

    def clear(self) -> None:
        self._gate = threading.Event()
        with self._lock:
            self.log.clear()
            self._queue.clear()
        with self._barrier:
            self._arrived.clear()

    def _hold(self, reply: Reply) -> None:
        """Wait until ``reply.hold`` requests of its ``hold_key`` arrived (at most 10 s)."""
        if reply.hold is None:
            return
        with self._barrier:
            key = reply.hold_key
            self._arrived[key] = self._arrived.get(key, 0) + 1
            self._barrier.notify_all()
            self._barrier.wait_for(lambda: self._arrived[key] >= (reply.hold or 0), timeout=10)

    # -- server side -------------------------------------------------------------------------
    def _next_reply(self, header: str | None) -> Reply:
        if header:
            return Reply(**json.loads(header))
        with self._lock:
            return self._queue.popleft() if self._queue else Reply()

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_{next(self._ids):06d}"

    def _log(self, served: Served) -> None:
        with self._lock:
            self.log.append(served)


def figures(reply: Reply) -> dict[str, int]:
    return {name: getattr(reply, name) for name in FIGURES}


def readable(usage: dict[str, Any], iterations: Any) -> bool:
    """Whether a real reply could carry these figures (PRODUCT.md "Usage numbers")."""
    counts = all(type(v) is int and 0 <= v <= 2**53 for v in usage.values())
    return counts and (
        iterations is None
        or (isinstance(iterations, list) and all(isinstance(i, dict) for i in iterations))
    )


# -- wire rendering ----------------------------------------------------------------------------
def openai_usage(r: Reply, inp: str, out: str) -> dict[str, Any]:
    in_details: dict[str, int] = {"cached_tokens": r.cache_read_tokens}
    if r.cache_write_tokens:
        in_details["cache_write_tokens"] = r.cache_write_tokens
    usage: dict[str, Any] = {
        f"{inp}_tokens": r.input_tokens,
        f"{out}_tokens": r.output_tokens,
        # what a scripted unreadable figure ("12") cannot be added to: no total at all
        "total_tokens": r.input_tokens + r.output_tokens if readable(figures(r), None) else None,
        f"{inp}_tokens_details": in_details,
        f"{out}_tokens_details": {"reasoning_tokens": r.reasoning_tokens},
    }
    if r.flavor == "deepseek":  # no details object: its own names for the cache
        del usage[f"{inp}_tokens_details"]
        usage["prompt_cache_hit_tokens"] = r.cache_read_tokens
        usage["prompt_cache_miss_tokens"] = r.input_tokens - r.cache_read_tokens
    if r.cost_usd is not None:  # OpenRouter
        usage.update(cost=r.cost_usd, is_byok=False)
    return usage


def anthropic_usage(r: Reply, *, start: bool = False) -> dict[str, Any]:
    cache = r.cache_read_tokens + r.cache_write_tokens
    usage: dict[str, Any] = {
        "input_tokens": r.input_tokens - cache,
        "output_tokens": r.output_tokens,
        "cache_read_input_tokens": r.cache_read_tokens,
        "cache_creation_input_tokens": r.cache_write_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": r.cache_write_tokens - r.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": r.cache_write_1h_tokens,
        },
    }
    if r.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": r.reasoning_tokens}
    if r.iterations is not None:
        usage["iterations"] = r.iterations
    if start:  # what message_start says before anything was generated
        usage["output_tokens"] = 1
        usage.pop("output_tokens_details", None)
        usage.pop("iterations", None)
        if r.start_input_tokens is not None:
            usage["input_tokens"] = r.start_input_tokens
    return usage


def chat_body(rid: str, model: str, r: Reply, legacy: bool) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "logprobs": None}
    if legacy:
        choice["text"] = TEXT
    else:
        choice["message"] = {"role": "assistant", "content": TEXT, "refusal": None}
    return {
        "id": rid,
        "object": "text_completion" if legacy else "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [choice],
        "usage": openai_usage(r, "prompt", "completion"),
        **({} if r.fingerprint is None else {"system_fingerprint": r.fingerprint}),
    }


def chat_chunks(rid: str, model: str, r: Reply, legacy: bool, usage: bool) -> Iterator[Any]:
    kind = "text_completion" if legacy else "chat.completion.chunk"
    base: dict[str, Any] = {"id": rid, "object": kind, "created": 1_700_000_000, "model": model}
    if r.fingerprint is not None:
        base["system_fingerprint"] = r.fingerprint
    extra = {"usage": None} if usage else {}
    for piece in (TEXT[:9], TEXT[9:]):
        delta: dict[str, Any] = (
            {"text": piece} if legacy else {"delta": {"role": "assistant", "content": piece}}
        )
        yield {**base, "choices": [{"index": 0, "finish_reason": None, **delta}], **extra}
    end: dict[str, Any] = {"text": ""} if legacy else {"delta": {}}
    yield {**base, "choices": [{"index": 0, "finish_reason": "stop", **end}], **extra}
    if r.flavor == "groq":  # Groq's last chunk says it under x_groq, asked or not
        yield {
            **base,
            "choices": [],
            "x_groq": {"id": "req_1", "usage": openai_usage(r, "prompt", "completion")},
        }
    elif usage:
        yield {**base, "choices": [], "usage": openai_usage(r, "prompt", "completion")}


def response_body(rid: str, model: str, r: Reply, status: str = "completed") -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": rid,
        "object": "response",
        "created_at": 1_700_000_000,
        "status": status,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_" + rid,
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": TEXT, "annotations": []}],
            }
        ]
        if done
        else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": openai_usage(r, "input", "output") if done else None,
    }


def response_events(body: dict[str, Any]) -> Iterator[Any]:
    created = {**body, "status": "in_progress", "output": [], "usage": None}
    item = body["output"][0]
    empty = {**item, "status": "in_progress", "content": []}
    where = {"output_index": 0, "item_id": item["id"]}
    part = {"type": "output_text", "text": "", "annotations": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": created},
        {"type": "response.output_item.added", "output_index": 0, "item": empty},
        {"type": "response.content_part.added", **where, "content_index": 0, "part": part},
        {"type": "response.output_text.delta", **where, "content_index": 0, "delta": TEXT},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": body},
    ]
    for number, event in enumerate(events):
        yield {**event, "sequence_number": number}


def message_body(rid: str, model: str, r: Reply) -> dict[str, Any]:
    return {
        "id": rid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": anthropic_usage(r),
    }


def message_events(body: dict[str, Any], r: Reply) -> Iterator[Any]:
    start = {**body, "content": [], "stop_reason": None, "usage": anthropic_usage(r, start=True)}
    yield {"type": "message_start", "message": start}
    yield {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    for piece in (TEXT[:9], TEXT[9:]):
        delta = {"type": "text_delta", "text": piece}
        yield {"type": "content_block_delta", "index": 0, "delta": delta}
    yield {"type": "content_block_stop", "index": 0}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": anthropic_usage(r),
    }
    yield {"type": "message_stop"}


# -- HTTP --------------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body in two writes cost 40 ms (delayed ACK)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET", {})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        self._serve("POST", json.loads(raw or b"{}"))

    def _serve(self, method: str, body: dict[str, Any]) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        path = parts.path
        reply = fake._next_reply(self.headers.get("x-fake-reply"))
        deployment = (
            path.split("/deployments/", 1)[1].split("/")[0] if "/deployments/" in path else None
        )
        model = reply.model or body.get("model") or deployment or "fake-model"
        stream = bool(body.get("stream")) or "stream=true" in parts.query
        anthropic = path.endswith("/messages")
        fake._hold(reply)
        served = Served(method, path, reply.status, stream, model, None, None, False)
        served.hold_key = reply.hold_key
        if reply.status >= 400:
            fake._log(served)
            return self._error(reply.status, anthropic)
        for serve_other in OTHERS:
            other = serve_other(fake, method, path, parts.query, body, reply, served)
            if other is None:
                continue
            fake._log(served)
            kind, content = other
            if isinstance(content, list):
                return self._chunks(kind, content, reply.pause_after)
            return self._raw(200, kind, content)
        counted_usage = figures(reply)
        if path.endswith("/chat/completions") or path.endswith("/completions"):
            legacy = not path.endswith("/chat/completions")
            rid = fake._new_id("cmpl" if legacy else "chatcmpl")
            if stream:
                include = bool((body.get("stream_options") or {}).get("include_usage"))
                events = list(chat_chunks(rid, model, reply, legacy, include))
                result: Any = events
                served.counted = include or reply.flavor == "groq"
                served.uncounted = not served.counted
            else:
                result = chat_body(rid, model, reply, legacy)
                served.counted = True
        elif path.endswith("/embeddings"):
            rid = None
            counted_usage = {**dict.fromkeys(FIGURES, 0), "input_tokens": reply.input_tokens}
            usage = {"prompt_tokens": reply.input_tokens, "total_tokens": reply.input_tokens}
            data = [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}]
            result = {"object": "list", "data": data, "model": model, "usage": usage}
            served.counted = True
        elif path.endswith("/responses/compact"):
            rid = fake._new_id("cmp")
            result = {
                "id": rid,
                "object": "response.compaction",
                "created_at": 1_700_000_000,
                "output": [],
                "usage": openai_usage(reply, "input", "output"),
            }
            served.counted = True
        elif path.endswith("/responses"):
            rid = fake._new_id("resp")
            done = response_body(rid, model, reply)
            if body.get("background"):
                fake._background[rid] = done
                result = response_body(rid, model, reply, status="queued")
            else:
                result = list(response_events(done)) if stream else done
                served.counted = True
        elif method == "GET" and "/responses/" in path:
            rid = path.rsplit("/", 1)[1]
            done = fake._background[rid]
            result = list(response_events(done))[-1:] if stream else done
            counted_usage = _figures_of_openai(done["usage"])
            with fake._lock:
                served.counted = rid not in fake._polled
                fake._polled.add(rid)
            served.model = done["model"]
        elif anthropic:
            rid = fake._new_id("msg")
            done = message_body(rid, model, reply)
            result = list(message_events(done, reply)) if stream else done
            served.counted = True
        else:
            self.send_error(404)
            return None
        served.response_id = rid
        if served.counted and not readable(counted_usage, reply.iterations if anthropic else None):
            served.counted, served.uncounted = False, True
        served.usage = counted_usage if served.counted else None
        served.cost_usd = reply.cost_usd if served.counted else None
        fake._log(served)
        if isinstance(result, list):
            return self._sse(result, anthropic, reply)
        return self._json(200, result)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._raw(status, "application/json", json.dumps(body).encode(), headers)

    def _raw(
        self, status: int, kind: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[Any], anthropic: bool, reply: Reply) -> None:
        pause_after = reply.pause_after
        chunks = [sse_event(event, reply.line_end, reply.multiline) for event in events]
        if not anthropic:
            chunks.append(f"data: [DONE]{reply.line_end * 2}".encode())
        self._chunks("text/event-stream; charset=utf-8", chunks, pause_after)

    def _chunks(self, kind: str, chunks: list[bytes], pause_after: int | None) -> None:
        """A streamed body; with ``pause_after``, the rest waits for :meth:`FakeLLM.release`."""
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(sum(map(len, chunks))))
        self.end_headers()
        if pause_after is None:
            self.wfile.write(b"".join(chunks))
            return
        self.wfile.write(b"".join(chunks[:pause_after]))
        self.wfile.flush()
        self.server.fake._gate.wait(timeout=10)
        try:
            self.wfile.write(b"".join(chunks[pause_after:]))
        except OSError:  # the client hung up: that is the point
            self.close_connection = True

    def _error(self, status: int, anthropic: bool) -> None:
        message = f"fake error {status}"
        body: dict[str, Any] = (
            {"type": "error", "error": {"type": "api_error", "message": message}}
            if anthropic
            else {"error": {"message": message, "type": "server_error", "code": None}}
        )
        self._json(status, body, {"x-should-retry": "false"})


def sse_event(event: dict[str, Any], end: str = "\n", multiline: bool = False) -> bytes:
    """One event as SSE: named by its type, its JSON on one ``data:`` line, or on one line
    each (alternately with and without the space after the colon, a comment after the first)."""
    lines = [f"event: {event['type']}"] if "type" in event else []
    if multiline:
        data = json.dumps(event, indent=1).split("\n")
        lines += [f"data:{line}" if i % 2 else f"data: {line}" for i, line in enumerate(data)]
        lines.insert(len(lines) - len(data) + 1, ": the same event goes on")
    else:
        lines.append(f"data: {json.dumps(event)}")
    return (end.join(lines) + end * 2).encode()


def _figures_of_openai(usage: dict[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cache_read_tokens": usage["input_tokens_details"]["cached_tokens"],
        "cache_write_tokens": usage["input_tokens_details"].get("cache_write_tokens", 0),
        "reasoning_tokens": usage["output_tokens_details"]["reasoning_tokens"],
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLM


@contextmanager
def running() -> Iterator[FakeLLM]:
    """A started server, shut down on exit (the fixtures of tests/ and examples/ use it)."""
    fake, server = start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def start() -> tuple[FakeLLM, _Server]:
    """Start a server on an ephemeral loopback port in a daemon thread."""
    server = _Server(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    server.fake = FakeLLM(f"http://{host!s}:{port}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.fake, server
