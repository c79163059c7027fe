"""Time to read one very large stream event arriving in small chunks, as capture reads a stream.

One event of ``--mb`` MB (default 40) in ``--chunk`` byte chunks (default 16 KiB), fed to the
stream reader of each endpoint the way capture feeds it: an OpenAI chat chunk without usage
(the event is skipped), a Responses ``response.completed`` whose usage follows 40 MB of output
text (the event is decoded), a Gemini SSE chunk and an Ollama NDJSON line that carry their
usage after the text, each with LF, CRLF and CR line ends; and a Bedrock event stream message
of that size (binary framing). Reading is linear in the stream's size: each should take well
under a second. CPU time of this process, the
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
    candidate = {"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}
    meta = {"promptTokenCount": 7, "candidatesTokenCount": size // 4}
    gemini = {"candidates": [candidate], "usageMetadata": meta, "modelVersion": "gemini-2.5-pro"}
    ollama = {"model": "llama3.2", "message": {"content": text}, "done": True}
    ollama |= {"done_reason": "stop", "prompt_eval_count": 7, "eval_count": size // 4}
    return {
        "chat chunk, no usage": ("/v1/chat/completions", f"data: {json.dumps(chunk)}\n\n".encode()),
        "response.completed, usage": (
            "/v1/responses",
            f"event: response.completed\ndata: {json.dumps(completed)}\n\n".encode(),
        ),
        "gemini chunk, usage": (
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
            f"data: {json.dumps(gemini)}\n\n".encode(),
        ),
        "ollama line, usage": ("/api/chat", f"{json.dumps(ollama)}\n".encode()),
    }


def event_stream_message(payload: bytes) -> bytes:
    """One AWS event stream ``metadata`` message (CRCs left zero: capture does not check them)."""
    name, value = b":event-type", b"metadata"
    headers = bytes([len(name)]) + name + b"\x07" + len(value).to_bytes(2, "big") + value
    total = 12 + len(headers) + len(payload) + 4
    prelude = total.to_bytes(4, "big") + len(headers).to_bytes(4, "big")
    return prelude + bytes(4) + headers + payload + bytes(4)


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
        for ends in ("LF", "CRLF", "CR"):
            data = body.replace(b"\n", {"LF": b"\n", "CRLF": b"\r\n", "CR": b"\r"}[ends])
            show(name, ends, [read(path, data, args.chunk) for _ in range(args.repeat)])
    usage = {"inputTokens": 7, "outputTokens": size // 4, "totalTokens": 7 + size // 4}
    payload = json.dumps({"usage": usage, "padding": "x" * size}).encode()
    data = event_stream_message(payload)
    path = "/model/anthropic.claude-3-haiku/converse-stream"
    show("bedrock message, usage", "-", [read(path, data, args.chunk) for _ in range(args.repeat)])


def show(name: str, ends: str, runs: list[tuple[float, object]]) -> None:
    seconds = min(seconds for seconds, _ in runs)
    counted = "usage read" if runs[0][1] is not None else "no usage"
    print(f"  {name:<26} {ends:<4} {seconds:7.3f} s CPU  ({counted})")


if __name__ == "__main__":
    main()
