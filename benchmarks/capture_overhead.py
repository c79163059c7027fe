"""Median overhead that automatic capture adds per LLM call, plain and streaming.

Runs against the loopback fake server in ``tests/fakellm.py`` with the HTTP client the SDKs use
(``httpx2``, else ``httpx``), alternating rounds with capture on and off so that drift in the
machine affects both sides alike. Also times the same calls through an in-memory transport,
which isolates capture's own cost from network jitter.

    python benchmarks/capture_overhead.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakellm import Reply, chat_body, chat_chunks, start
from pytest_tokenbudget import capture

PAYLOAD = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**PAYLOAD, "stream": True, "stream_options": {"include_usage": True}}


def http_module() -> Any:
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise SystemExit("needs httpx2 or httpx")


def call(client: Any, url: str, stream: bool) -> None:
    if stream:
        with client.stream("POST", url, json=STREAM) as response:
            for _ in response.iter_lines():
                pass
    else:
        client.post(url, json=PAYLOAD).json()


def median_us(fn: Callable[[], None], calls: int, rounds: int = 10) -> tuple[float, float]:
    """Median µs per call with capture off and on, in alternating rounds."""
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):
        for side in (off, on):
            undo = capture.install() if side is on else None
            for _ in range(calls // rounds):
                t0 = time.perf_counter_ns()
                fn()
                side.append((time.perf_counter_ns() - t0) / 1000)
            if undo is not None:
                undo()
    return statistics.median(off), statistics.median(on)


def canned_transport(http: Any, stream: bool) -> Any:
    if stream:
        import json

        lines = [f"data: {json.dumps(c)}\n\n" for c in chat_chunks("c", "m", Reply(), False, True)]
        body = ("".join(lines) + "data: [DONE]\n\n").encode()
        kind = "text/event-stream"
    else:
        import json

        body = json.dumps(chat_body("c", "m", Reply(), False)).encode()
        kind = "application/json"
    return http.MockTransport(
        lambda request: http.Response(200, headers={"content-type": kind}, content=body)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    http = http_module()
    fake, server = start()
    url = fake.openai_url + "/chat/completions"
    print(f"{http.__name__} {http.__version__}, {args.calls} calls per side")
    try:
        for stream in (False, True):
            label = "streaming" if stream else "plain"
            with http.Client() as client:
                off, on = median_us(partial(call, client, url, stream), args.calls)
            with http.Client(transport=canned_transport(http, stream)) as client:
                m_off, m_on = median_us(partial(call, client, url, stream), args.calls)
            print(
                f"{label:>9}: loopback {off:8.1f} -> {on:8.1f} µs (overhead {on - off:+6.1f} µs)"
                f" | in-memory {m_off:6.1f} -> {m_on:6.1f} µs (overhead {m_on - m_off:+6.1f} µs)"
            )
            fake.clear()
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
