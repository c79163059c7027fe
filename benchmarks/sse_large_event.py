"""Time to read one very large SSE event arriving in small chunks, as capture reads a stream.

One event of ``--mb`` MB (default 40) in ``--chunk`` byte chunks (default 16 KiB), fed to the
stream reader of each endpoint the way capture feeds it: a chat chunk without usage (the
event is skipped), and a Responses ``response.completed`` whose usage follows 40 MB of
output text (the event is decoded), each with LF and with CRLF line ends. Reading is linear
in the stream's size: each should take well under a second. CPU time of this process, the
best of ``--repeat`` runs, so that other work on the machine does not count.

    python benchmarks/sse_large_event.py [--mb 40] [--chunk 16384] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time

from pytest_tokenbudget.providers import endpoint


def events(size: int) -> dict[str, tuple[str, bytes]]:
    text = "x" * size
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o", "usage": None}
    chunk["choices"] = [{"index": 0, "delta": {"content": text}}]
    usage = {"input_tokens": 7, "output_tokens": size // 4, "total_tokens": 7 + size // 4}
    done = {"id": "r", "object": "response", "model": "gpt-5", "status": "completed"}
    done |= {"output": [{"type": "output_text", "text": text}], "usage": usage}
    completed = {"type": "response.completed", "response": done}
    return {
        "chat chunk, no usage": ("/v1/chat/completions", f"data: {json.dumps(chunk)}\n\n".encode()),
        "response.completed, usage": (
            "/v1/responses",
            f"event: response.completed\ndata: {json.dumps(completed)}\n\n".encode(),
        ),
    }


def read(path: str, body: bytes, chunk: int) -> tuple[float, object]:
    found = endpoint("POST", path)
    assert found is not None
    reader = found.stream()
    start = time.process_time()
    for at in range(0, len(body), chunk):
        reader.feed(body[at : at + chunk])
    result = reader.result()
    return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=40)
    parser.add_argument("--chunk", type=int, default=16 * 1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = int(args.mb * 1_000_000)
    print(f"one SSE event of {args.mb:g} MB in {args.chunk:,} byte chunks")
    for name, (path, body) in events(size).items():
        for ends, data in (("LF", body), ("CRLF", body.replace(b"\n", b"\r\n"))):
            runs = [read(path, data, args.chunk) for _ in range(args.repeat)]
            seconds = min(seconds for seconds, _ in runs)
            counted = "usage read" if runs[0][1] is not None else "no usage"
            print(f"  {name:<26} {ends:<4} {seconds:7.3f} s CPU  ({counted})")


if __name__ == "__main__":
    main()
