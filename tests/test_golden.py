"""Golden check: every byte a user sees, pinned against files stored under tests/golden/.

Two suites run through pytester, serial and under ``-n 2``: the demo (examples/ as is, laid out
as in the repository and run as scripts/demo.sh runs it, so node ids read ``examples/...``) and
a 20-test suite kept in tests/golden/suite/ (named so that no pytest run collects it there; it
is copied into the pytester dir as conftest.py and test_agents.py). Each scenario captures

- the terminal ``tokenbudget`` section (from the ``= tokenbudget =`` line to the end of stdout)
  of every pytest run, and its exit status (``runs.txt``);
- the JSON, Markdown and HTML reports, the history file and the baseline written by
  ``--tokenbudget-update-baseline``;
- a second run against that baseline after figures changed (regressions with what grew,
  improvements, new and missing tests; for the 20-test suite a run budget exceeded too), and
  for the 20-test suite a third with ``--tokenbudget-regression-metric=cost_usd``;
- the ``tokenbudget`` command on those files, called in-process (exit status, stdout, stderr):
  ``compare`` (also ``--metric cost_usd``, and report against report), ``report --format
  text|markdown|html``, ``baseline update``, ``analyze`` (also ``--json``), ``history``; and in
  the serial scenarios only (merge reads files of one format however they were made; this keeps
  the run short) ``merge`` of two ``-k`` shards run before the baseline exists;

and compares each with its stored file in tests/golden/{demo,agents}/{serial,xdist2}/, showing
a unified diff on mismatch (all mismatches of a scenario at once).

Only what legitimately varies is normalised (see ``Golden.normalise``): ``created`` timestamps
(replaced by a placeholder of the same length, so columns keep their width), the pytester dir
(``<ROOT>``), the installed genai-prices version and this package's (the Markdown's footer
names it), and pytest's own lines: of stdout only the
``tokenbudget`` section is kept, pytest's final line loses its duration and padding, and the
lines of its "short test summary info" are sorted (under xdist failures arrive in any order).
"Today" is pinned for the price table's staleness note, which would otherwise appear once the
shipped table is 180 days old. The inner runs disable the venv's unrelated plugins (recording,
anyio, hypothesis). Serial and ``-n 2`` files are stored apart; they differ only where the
20-test suite's ``<session>`` usage is recorded once per process (twice under ``-n 2``).

REGOLDING: ``TOKENBUDGET_REGOLD=1 pytest tests/test_golden.py`` rewrites the stored files from
the current code (and deletes stored files that no output produces any more) instead of
comparing. Use it ONLY for an intended change of output, and review the resulting
``git diff tests/golden`` line by line before committing it: a change meant to preserve
behaviour must pass WITHOUT regolding.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Sequence

import pytest

from pytest_tokenbudget.cli import main as tokenbudget
from pytest_tokenbudget.plugin import session as session_module
from pytest_tokenbudget.version import __version__
from runs import DIST

pytest.importorskip("openai")
pytest.importorskip("anthropic")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GOLDEN = HERE / "golden"
SUITE = GOLDEN / "suite"
REGOLD = os.environ.get("TOKENBUDGET_REGOLD") == "1"
#: Placeholder for a ``created`` timestamp: as long as one, so columns stay aligned.
CREATED = "YYYY-MM-DDTHH:MM:SS+00:00"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
#: The installed genai-prices in the price table's version: "2026-11-23; genai-prices 0.2.3".
GENAI_VERSION = re.compile(r"; genai-prices [0-9][0-9A-Za-z.+!-]*")
#: The SDKs installed, and their versions, in a report's or baseline's ``environment``.
SDKS = re.compile(r'"sdks": \{[^{}]*\}')
FINAL_LINE = re.compile(r"^=+ (.+) in \d+(?:\.\d+)?s(?: \([\d:.]+\))? =+$")
SEPARATOR = re.compile(r"^=+ (.+?) =+$")
#: Every inner run: no cache dir, and none of the venv's unrelated plugins (a worker that imports
#: pytest-recording, anyio and hypothesis takes seconds longer to start, and a plugin could print).
INNER = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:recording",
    "-p",
    "no:anyio",
    "-p",
    "no:hypothesispytest",
)
#: "Today" for the staleness note of the price table (not stale: no note).
TODAY = date(2026, 12, 1)


class _Today(date):
    @classmethod
    def today(cls) -> date:
        return TODAY


@dataclass
class Golden:
    """Compares captured outputs with the stored files of one scenario (or rewrites them)."""

    pytester: pytest.Pytester
    folder: Path
    mismatches: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)

    def normalise(self, text: str) -> str:
        root = self.pytester.path
        for path in {str(root.resolve()), str(root)}:
            text = text.replace(path, "<ROOT>")
        text = TIMESTAMP.sub(CREATED, text)
        text = text.replace(f"pytest-tokenbudget {__version__}", "pytest-tokenbudget <VERSION>")
        text = SDKS.sub('"sdks": {"<SDK>": "<VERSION>"}', text)
        return GENAI_VERSION.sub("; genai-prices <VERSION>", text)

    def check(self, name: str, text: str) -> None:
        """Compare ``text`` (normalised) with the stored file ``name``."""
        assert name not in self.names, f"{name} captured twice"
        self.names.append(name)
        text = self.normalise(text)
        path = self.folder / name
        if REGOLD:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        if not path.exists():
            self.mismatches.append(f"{path}: no stored file (regold with TOKENBUDGET_REGOLD=1)")
            return
        expected = path.read_bytes().decode("utf-8")
        if expected != text:
            diff = difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"stored/{name}",
                f"current/{name}",
            )
            self.mismatches.append("".join(diff))

    def file(self, name: str, relpath: str) -> None:
        self.check(name, (self.pytester.path / relpath).read_bytes().decode("utf-8"))

    def pytest(self, name: str, *args: str) -> pytest.RunResult:
        """Run pytest; keep its exit status and its ``tokenbudget`` section as ``name``."""
        result = self.pytester.runpytest(*INNER, *args)
        self.runs.append(f"{name}: pytest {' '.join(args)}\n  exit status {int(result.ret)}")
        self.check(f"{name}.terminal.txt", terminal_section(result.outlines))
        return result

    def quiet_pytest(self, name: str, *args: str) -> pytest.RunResult:
        """Run pytest for its files only (its terminal section is not stored)."""
        result = self.pytester.runpytest(*INNER, *args)
        self.runs.append(f"{name}: pytest {' '.join(args)}\n  exit status {int(result.ret)}")
        return result

    def cli(self, name: str, capsys: pytest.CaptureFixture[str], *args: str) -> int:
        """Run ``tokenbudget ARGS`` in-process; keep its exit status, stdout and stderr."""
        capsys.readouterr()
        code = tokenbudget(list(args))
        out, err = capsys.readouterr()
        text = f"$ tokenbudget {' '.join(args)}\nexit status {code}\n{out}"
        if err:
            text += f"--- stderr ---\n{err}"
        self.check(f"{name}.cli.txt", text)
        return code

    def finish(self) -> None:
        if self.runs:
            self.check("runs.txt", "\n".join(self.runs) + "\n")
        stored = {p.name for p in self.folder.iterdir()} if self.folder.exists() else set()
        unused = sorted(stored - set(self.names))
        if REGOLD:
            for name in unused:
                (self.folder / name).unlink()
            return
        if unused:
            self.mismatches.append(f"{self.folder}: stored but not produced: {', '.join(unused)}")
        if self.mismatches:
            pytest.fail(
                f"{len(self.mismatches)} output(s) differ from tests/golden/ "
                "(regold with TOKENBUDGET_REGOLD=1 only for an intended change):\n\n"
                + "\n".join(self.mismatches),
                pytrace=False,
            )


def terminal_section(lines: Sequence[str]) -> str:
    """stdout from the ``= tokenbudget =`` line to the end; pytest's final line without its
    duration; the short test summary's lines sorted (xdist finishes tests in any order)."""
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"=+ tokenbudget =+", line)]
    if len(starts) != 1:
        return f"{len(starts)} tokenbudget sections in stdout:\n" + "\n".join(lines) + "\n"
    section = list(lines[starts[0] :])
    final = FINAL_LINE.match(section[-1])
    if final:
        section[-1] = f"= {final.group(1)} in <DURATION> ="
    for i, line in enumerate(section):
        match = SEPARATOR.match(line)
        if match and match.group(1) == "short test summary info":
            end = next(
                (j for j in range(i + 1, len(section)) if section[j].startswith("=")), len(section)
            )
            section[i + 1 : end] = sorted(section[i + 1 : end])
    return "\n".join(section) + "\n"


@pytest.fixture(scope="module")
def _warm_sdks() -> None:
    """Import the SDKs and the parts of them the suites use, once in this process.

    pytester's in-process runs drop every module imported during the run, so without this
    each serial run would import openai and anthropic again (seconds each time). No request
    is made: usage recorded here would count in this run's own report.
    """
    import anthropic
    import anthropic.lib.streaming
    import openai
    import openai.lib.streaming.chat

    for client in (
        openai.OpenAI(base_url="http://127.0.0.1:9", api_key="k"),
        anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k"),
    ):
        with client:
            for name in ("chat", "responses", "messages"):
                resource = getattr(client, name, None)
                getattr(resource, "completions", None)


@pytest.fixture
def golden_env(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, _warm_sdks: None
) -> pytest.Pytester:
    monkeypatch.setenv("COLUMNS", "80")  # pytest's separators and the short summary's cut
    for name in ("CI", "BUILD_NUMBER"):  # on CI pytest never cuts the short summary's lines
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GITHUB_SHA", raising=False)  # a baseline records it as its commit
    monkeypatch.delenv("TOKENBUDGET_FAKE_LLM", raising=False)
    monkeypatch.setattr(session_module, "date", _Today)
    return pytester


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path.name}: expected {old!r} once (the demo changed?)"
    path.write_text(text.replace(old, new), encoding="utf-8")


def shards_and_merge(
    g: Golden,
    capsys: pytest.CaptureFixture[str],
    *,
    base: Sequence[str],
    out: str,
    shards: tuple[str, str],
) -> None:
    """Two ``-k`` shards (run before any baseline exists) merged by ``tokenbudget merge``."""
    for i, keyword in enumerate(shards, 1):
        g.quiet_pytest(f"shard{i}", *base, "-k", keyword, f"--tokenbudget-json={out}/shard{i}.json")
        g.file(f"shard{i}.report.json", f"{out}/shard{i}.json")
    g.cli(
        "merge",
        capsys,
        "merge",
        f"{out}/shard1.json",
        f"{out}/shard2.json",
        "-o",
        f"{out}/merged.json",
    )
    g.file("merged.report.json", f"{out}/merged.json")


def base_run(
    g: Golden, *, base: Sequence[str], out: str, extra: Sequence[str], dist: Sequence[str]
) -> None:
    g.pytest(
        "base",
        *base,
        f"--tokenbudget-json={out}/report.json",
        f"--tokenbudget-markdown={out}/report.md",
        f"--tokenbudget-html={out}/report.html",
        f"--tokenbudget-history={out}/history.jsonl",
        "--tokenbudget-update-baseline",
        *extra,
        *dist,
    )
    g.file("base.report.json", f"{out}/report.json")
    g.file("base.report.md", f"{out}/report.md")
    g.file("base.report.html", f"{out}/report.html")
    g.file("base.baseline.json", "tokenbudget-baseline.json")


def variant_runs_and_cli(
    g: Golden,
    capsys: pytest.CaptureFixture[str],
    *,
    base: Sequence[str],
    out: str,
    extra: Sequence[str],
    cost_run: bool,
    dist: Sequence[str],
) -> None:
    g.pytest(
        "variant",
        *base,
        f"--tokenbudget-json={out}/variant.json",
        f"--tokenbudget-markdown={out}/variant.md",
        f"--tokenbudget-html={out}/variant.html",
        f"--tokenbudget-history={out}/history.jsonl",
        *extra,
        *dist,
    )
    g.file("variant.report.json", f"{out}/variant.json")
    g.file("variant.report.md", f"{out}/variant.md")
    g.file("variant.report.html", f"{out}/variant.html")
    g.file("history.jsonl", f"{out}/history.jsonl")
    if cost_run:
        g.pytest(
            "variant-cost",
            *base,
            "--tokenbudget-regression-metric=cost_usd",
            f"--tokenbudget-json={out}/cost.json",
            f"--tokenbudget-markdown={out}/cost.md",
            f"--tokenbudget-html={out}/cost.html",
            *dist,
        )
        g.file("variant-cost.report.json", f"{out}/cost.json")
        g.file("variant-cost.report.md", f"{out}/cost.md")
        g.file("variant-cost.report.html", f"{out}/cost.html")
    baseline, report = "tokenbudget-baseline.json", f"{out}/variant.json"
    g.cli("compare", capsys, "compare", baseline, report)
    g.cli("compare-cost", capsys, "compare", "--metric", "cost_usd", baseline, report)
    g.cli("compare-reports", capsys, "compare", f"{out}/report.json", report)
    for fmt in ("text", "markdown", "html"):
        g.cli(f"report-{fmt}", capsys, "report", report, "--format", fmt)
    g.cli("report-base-text", capsys, "report", f"{out}/report.json")
    g.cli("analyze", capsys, "analyze", report)
    g.cli("analyze-json", capsys, "analyze", f"{out}/report.json", "--json")
    g.cli("history", capsys, "history", f"{out}/history.jsonl")
    shutil.copy(g.pytester.path / baseline, g.pytester.path / out / "updated-baseline.json")
    g.cli(
        "baseline-update",
        capsys,
        "baseline",
        "update",
        report,
        "--baseline",
        f"{out}/updated-baseline.json",
    )
    g.file("updated-baseline.json", f"{out}/updated-baseline.json")


def scenario(
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    dist: list[str],
    *,
    suite: str,
    setup: Callable[[Path], None],
    change: Callable[[Path], None],
    base: Sequence[str],
    out: str,
    shards: tuple[str, str],
    base_extra: Sequence[str] = (),
    variant_extra: Sequence[str] = (),
    cost_run: bool = False,
) -> None:
    g = Golden(pytester, GOLDEN / suite / ("xdist2" if dist else "serial"))
    setup(pytester.path)
    if not dist:  # merge reads files of one format however they were made: once is enough
        shards_and_merge(g, capsys, base=base, out=out, shards=shards)
    base_run(g, base=base, out=out, extra=base_extra, dist=dist)
    change(pytester.path)
    variant_runs_and_cli(
        g, capsys, base=base, out=out, extra=variant_extra, cost_run=cost_run, dist=dist
    )
    g.finish()


# -- the demo -----------------------------------------------------------------------------------
def demo_setup(root: Path) -> None:
    (root / "examples").mkdir()
    (root / "tests").mkdir()
    for name in ("conftest.py", "test_support_agent.py"):
        shutil.copy(REPO / "examples" / name, root / "examples" / name)
    shutil.copy(HERE / "fakellm.py", root / "tests" / "fakellm.py")  # as examples/ finds it


def demo_change(root: Path) -> None:
    """Retrieval grows (a regression), answers shrink (an improvement), a test is renamed
    (missing + new) and one is added (new, with usage)."""
    agent = root / "examples" / "test_support_agent.py"
    replace_once(agent, "Reply(input_tokens=1800,", "Reply(input_tokens=2600,")
    replace_once(agent, "output_tokens=380)", "output_tokens=300)")
    replace_once(agent, "def test_counts_the_system_prompt(", "def test_counts_the_prompt(")
    with agent.open("a", encoding="utf-8") as fh:
        fh.write(
            "\n\ndef test_follows_up(openai_client: Any, token_tracker: Any) -> None:\n"
            '    with token_tracker.operation("retrieve"):\n'
            '        assert retrieve(openai_client, "And my refund?")\n'
        )


@pytest.mark.parametrize("dist", DIST)
def test_demo(
    golden_env: pytest.Pytester, capsys: pytest.CaptureFixture[str], dist: list[str]
) -> None:
    root = golden_env.path
    scenario(
        golden_env,
        capsys,
        dist,
        suite="demo",
        setup=demo_setup,
        change=demo_change,
        base=["examples", f"--rootdir={root}"],  # as scripts/demo.sh: rootdir is the checkout
        out="examples/out",
        shards=("billing", "not billing"),
    )


# -- the 20-test suite --------------------------------------------------------------------------
def suite_setup(root: Path) -> None:
    shutil.copy(SUITE / "conftest_suite.py", root / "conftest.py")
    shutil.copy(SUITE / "agents_suite.py", root / "test_agents.py")
    shutil.copy(HERE / "fakellm.py", root / "fakellm.py")


def suite_change(root: Path) -> None:
    (root / "variant.flag").write_text("changed figures: see test_agents.py\n")


@pytest.mark.parametrize("dist", DIST)
def test_suite(
    golden_env: pytest.Pytester, capsys: pytest.CaptureFixture[str], dist: list[str]
) -> None:
    scenario(
        golden_env,
        capsys,
        dist,
        suite="agents",
        setup=suite_setup,
        change=suite_change,
        base=[],
        out="out",
        shards=("llm", "not llm"),
        base_extra=["--tokenbudget-max-tokens=100000", "--tokenbudget-max-cost=1"],
        variant_extra=["--tokenbudget-max-tokens=30000"],
        cost_run=True,
    )
