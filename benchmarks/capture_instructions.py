"""Deterministic workload for counting capture's CPU instructions under callgrind.

One pytest run (the plugin active, as users run it) whose single test makes N calls through an
in-memory httpx2/httpx transport. Wall time on a shared machine is noisy; instruction counts are
not. Capture's cost per call is the difference between ``on`` and ``off``, divided by N:

    for side in on off; do
      PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=cg.$side \\
        python benchmarks/capture_instructions.py $side --calls 2000 [--stream]
    done
    callgrind_annotate cg.on | head; callgrind_annotate cg.off | head
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pytest

TEST = '''
import itertools, json, os
from capture_overhead import PAYLOAD, STREAM, call, http_module
from fakellm import Reply, chat_body, chat_chunks

def transport(http, stream):
    """Canned replies, each with its own response id (a repeated id is not counted again);
    a stream arrives one event a chunk, as from the network (bytes would be read at once)."""
    if stream:
        chunks = chat_chunks("{rid}", "gpt-4o-mini", Reply(), False, True)
        events = [f"data: {json.dumps(c)}\\n\\n" for c in chunks] + ["data: [DONE]\\n\\n"]
        kind = "text/event-stream"
    else:
        events = [json.dumps(chat_body("{rid}", "gpt-4o-mini", Reply(), False))]
        kind = "application/json"
    ids = itertools.count()
    headers = {"content-type": kind}

    def reply(request):
        rid = f"chatcmpl-{next(ids)}"
        content = [e.replace("{rid}", rid).encode() for e in events]
        return http.Response(200, headers=headers, content=iter(content) if stream else content[0])

    return http.MockTransport(reply)

def test_calls():
    http = http_module()
    stream = os.environ["CAPTURE_STREAM"] == "1"
    with http.Client(transport=transport(http, stream)) as client:
        for _ in range(int(os.environ["CAPTURE_CALLS"])):
            call(client, "http://llm.test/v1/chat/completions", stream)
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", choices=("on", "off"))
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    os.environ["CAPTURE_CALLS"] = str(args.calls)
    os.environ["CAPTURE_STREAM"] = "1" if args.stream else "0"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "test_calls.py").write_text(TEST)
        capture = "auto" if args.capture == "on" else "off"
        options = ["-q", "-p", "no:cacheprovider", f"--tokenbudget-capture={capture}"]
        return int(pytest.main([*options, "--rootdir", tmp, tmp]))


if __name__ == "__main__":
    raise SystemExit(main())
