"""Token footprint of prompt and context files, for ``tokenbudget count`` (no pytest).

A prompt file that grows is paid for in every call that sends it; counting the files in CI
catches the growth before any test runs. A ``[tool.tokenbudget.files]`` limit applies to the
total of the files its glob matches (one file for a plain path).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..atomicfile import NotRegularFile, read_bytes
from ..fmt import usd
from ..pricing import PriceTable
from ..tokenizer import count_tokens, encoding_name
from ..usage import Usage, check_count, pico_to_usd
from .common import UsageError

#: Folders never worth counting when a whole directory is given.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".tox"})


@dataclass(frozen=True)
class FileCount:
    path: str
    tokens: int
    cost_pico: int | None = None


@dataclass(frozen=True)
class Limit:
    pattern: str
    max_tokens: int
    tokens: int
    files: int

    @property
    def passed(self) -> bool:
        return self.tokens <= self.max_tokens


@dataclass
class CountResult:
    model: str | None
    encoding: str
    files: list[FileCount] = field(default_factory=list)
    #: Files not counted, with why (not UTF-8 text; a FIFO, device or folder; unreadable).
    skipped: dict[str, str] = field(default_factory=dict)
    limits: list[Limit] = field(default_factory=list)
    max_tokens: int | None = None
    total_cost_pico: int | None = None

    @property
    def total_tokens(self) -> int:
        return sum(f.tokens for f in self.files)

    @property
    def passed(self) -> bool:
        over_max = self.max_tokens is not None and self.total_tokens > self.max_tokens
        return not over_max and all(limit.passed for limit in self.limits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "encoding": self.encoding,
            "files": [
                {"path": f.path, "tokens": f.tokens, "cost_usd": _usd(f.cost_pico)}
                for f in self.files
            ],
            "skipped": list(self.skipped),
            "skipped_why": dict(self.skipped),
            "total_tokens": self.total_tokens,
            "total_cost_usd": _usd(self.total_cost_pico),
            "max_tokens": self.max_tokens,
            "limits": [
                {
                    "glob": limit.pattern,
                    "max_tokens": limit.max_tokens,
                    "tokens": limit.tokens,
                    "files": limit.files,
                    "passed": limit.passed,
                }
                for limit in self.limits
            ],
            "passed": self.passed,
        }


def _usd(pico: int | None) -> float | None:
    return None if pico is None else pico_to_usd(pico)


# -- finding files ------------------------------------------------------------------------------
def expand(patterns: Iterable[str], root: Path) -> list[Path]:
    """Files named by paths, folders (recursively) and globs (``**`` allowed), in order, once."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        matches = _expand_one(pattern, root)
        if not matches:
            raise UsageError(f"no file matches {pattern!r}")
        found.update(dict.fromkeys(matches))
    return list(found)


def _expand_one(pattern: str, root: Path) -> list[Path]:
    path = root / pattern
    if path.is_dir():
        return _walk(path)
    if path.is_file() or os.path.lexists(path):  # a FIFO or device is listed as skipped
        return [path]
    out: list[Path] = []
    for name in sorted(glob.glob(str(path), recursive=True)):
        match = Path(name)
        out.extend(_walk(match) if match.is_dir() else [match])
    return out


def _walk(folder: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        out.extend(Path(dirpath) / name for name in sorted(filenames))
    return out


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# -- counting ---------------------------------------------------------------------------------
def count_paths(
    patterns: Sequence[str],
    *,
    root: Path,
    model: str | None = None,
    encoding: str | None = None,
    pricer: PriceTable | None = None,
    max_tokens: int | None = None,
    limits: Mapping[str, object] | None = None,
) -> CountResult:
    """Count the files ``patterns`` name, and check ``max_tokens`` and per-glob ``limits``.

    Only regular files are read, each never past the size it had (a FIFO would block, a
    link to ``/dev/zero`` never end): others, and files that are not UTF-8 text, are listed
    as skipped, not counted.
    """
    try:
        enc = encoding_name(model, encoding)
    except ValueError as exc:
        raise UsageError(f"{exc} (command line: --encoding o200k_base)") from None
    result = CountResult(model=model, encoding=enc, max_tokens=max_tokens)
    checked = _check_limits(limits or {})
    paths = expand([*patterns, *checked], root)
    counts: dict[Path, int] = {}
    for path in paths:
        try:
            text = read_bytes(path).decode("utf-8")
        except UnicodeDecodeError:
            result.skipped[_display(path, root)] = "not UTF-8 text"
            continue
        except NotRegularFile as exc:
            result.skipped[_display(path, root)] = str(exc.strerror)
            continue
        except OSError as exc:
            result.skipped[_display(path, root)] = f"cannot read: {exc.strerror or exc}"
            continue
        counts[path] = count_tokens(text, encoding=enc)
    shown = expand(patterns, root) if patterns else list(counts)
    for path in shown:
        if path in counts:
            cost = _input_cost(pricer, model, counts[path])
            result.files.append(FileCount(_display(path, root), counts[path], cost))
    if pricer is not None and model is not None:
        result.total_cost_pico = _input_cost(pricer, model, result.total_tokens)
    for pattern, limit in checked.items():
        matched = [p for p in expand([pattern], root) if p in counts]
        tokens = sum(counts[p] for p in matched)
        result.limits.append(Limit(pattern, limit, tokens, len(matched)))
    return result


def _input_cost(pricer: PriceTable | None, model: str | None, tokens: int) -> int | None:
    if pricer is None or model is None:
        return None
    return pricer.cost_pico(model, Usage(input_tokens=tokens, calls=1))


def _check_limits(limits: Mapping[str, object]) -> dict[str, int]:
    if not isinstance(limits, Mapping):
        raise UsageError(f"[tool.tokenbudget.files] must map globs to max tokens, got {limits!r}")
    out: dict[str, int] = {}
    for pattern, value in limits.items():
        try:
            out[str(pattern)] = check_count("max tokens", value)
        except ValueError:
            raise UsageError(
                f"[tool.tokenbudget.files] {pattern!r} = {value!r}: max tokens must be a "
                "non-negative integer"
            ) from None
    return out


# -- config and rendering -------------------------------------------------------------------
def render_text(result: CountResult) -> str:
    with_cost = result.model is not None and result.total_cost_pico is not None
    lines = []
    width = max([len(f"{f.tokens:,}") for f in result.files] + [len(f"{result.total_tokens:,}")])
    for f in result.files:
        cost = f"  {_money(f.cost_pico)}" if with_cost else ""
        lines.append(f"{f.tokens:>{width},}{cost}  {f.path}")
    label = f"total ({len(result.files)} files, {result.encoding}"
    label += f", input cost for {result.model})" if with_cost else ")"
    total_cost = f"  {_money(result.total_cost_pico)}" if with_cost else ""
    lines.append(f"{result.total_tokens:>{width},}{total_cost}  {label}")
    if result.model is not None and result.total_cost_pico is None:
        lines.append(f"model {result.model!r} has no price: cost not shown")
    for name, why in result.skipped.items():
        lines.append(f"skipped ({why}): {name}")
    if result.max_tokens is not None and result.total_tokens > result.max_tokens:
        lines.append(f"FAILED: total {result.total_tokens:,} tokens > --max {result.max_tokens:,}")
    for limit in result.limits:
        verdict = "ok" if limit.passed else "FAILED"
        sign = "<=" if limit.passed else ">"
        lines.append(
            f"{verdict}: {limit.pattern} ({limit.files} files) {limit.tokens:,} tokens "
            f"{sign} {limit.max_tokens:,} ([tool.tokenbudget.files])"
        )
    return "\n".join(lines) + "\n"


def _money(pico: int | None) -> str:
    return "-" if pico is None else usd(pico_to_usd(pico))
