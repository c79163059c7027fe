"""Deterministic workload for counting capture's CPU instructions under callgrind.

N calls through an in-memory httpx2/httpx transport, each reply with its own response id (a
repeated id is not counted again) and a stream arriving one event a chunk, as from the network.
By default they run in one test of a pytest run with the plugin active, as users run it;
``--bare`` makes them with only ``capture.install()``, as ``capture_overhead.py`` does. Wall
time on a shared machine is noisy; instruction counts are not. Capture's cost per call is the
growth of ``on`` minus that of ``off`` from 100 to 1100 calls, divided by 1000:

    for side in on off; do for n in 100 1100; do
      PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=cg.$side.$n \\
        python benchmarks/capture_instructions.py $side --calls $n [--stream] [--bare]
    done; done
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_overhead import call, http_module

from fakellm import Reply, chat_body, chat_chunks

URL = "http://llm.test/v1/chat/completions"
TEST = """
import os
from capture_instructions import run

def test_calls():
    run(int(os.environ["CAPTURE_CALLS"]), os.environ["CAPTURE_STREAM"] == "1")
"""


def transport(http: Any, stream: bool) -> Any:
    if stream:
        chunks = chat_chunks("{rid}", "gpt-4o-mini", Reply(), False, True)
        events = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
        kind = "text/event-stream"
    else:
        events = [json.dumps(chat_body("{rid}", "gpt-4o-mini", Reply(), False))]
        kind = "application/json"
    ids = itertools.count()
    headers = {"content-type": kind}

    def reply(request: Any) -> Any:
        rid = f"chatcmpl-{next(ids)}"
        content = [e.replace("{rid}", rid).encode() for e in events]
        # a stream must be an iterator: bytes would be read at once and never reach the tee
        return http.Response(200, headers=headers, content=iter(content) if stream else content[0])

    return http.MockTransport(reply)


def run(calls: int, stream: bool) -> None:
    http = http_module()
    with http.Client(transport=transport(http, stream)) as client:
        for _ in range(calls):
            call(client, URL, stream)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", choices=("on", "off"))
    parser.add_argument("--calls", type=int, default=1100)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--bare", action="store_true", help="capture.install(), no pytest")
    args = parser.parse_args()
    if args.bare:
        from pytest_tokenbudget import capture

        undo = capture.install() if args.capture == "on" else None
        run(args.calls, args.stream)
        if undo is not None:
            undo()
        return 0
    import pytest

    os.environ["CAPTURE_CALLS"] = str(args.calls)
    os.environ["CAPTURE_STREAM"] = "1" if args.stream else "0"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "test_calls.py").write_text(TEST)
        capture = "auto" if args.capture == "on" else "off"
        options = ["-q", "-p", "no:cacheprovider", f"--tokenbudget-capture={capture}"]
        return int(pytest.main([*options, "--rootdir", tmp, tmp]))


if __name__ == "__main__":
    raise SystemExit(main())
