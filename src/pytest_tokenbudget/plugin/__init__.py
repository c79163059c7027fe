"""pytest11 entry point ``tokenbudget`` (``-p pytest_tokenbudget.plugin`` too): the hooks that
start a run and the fixture. They add the options, resolve the settings, and wire in the run's
machinery (attribution, the pricer, our hooks, thread inheritance, capture and the session's
plugins), which is loaded only as the run is configured.

Every run adds the options, so the settings' table is imported with this module (one module
less to import: each costs a run about 500,000 CPU instructions through pytest's import hooks).
The package takes itself off pytest's assertion rewriter as it is imported, so this module
loads as plain Python; tiktoken, the price table and the HTTP clients load only when used.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable

import pytest

from ..config import (
    SETTINGS,
    Setting,
    SettingsError,
    read_pyproject,
    resolve,
    unknown_options,
)

if TYPE_CHECKING:
    from ..tracker import TokenTracker

SESSION_PLUGIN = "tokenbudget-session"

MARKER = (
    "token_budget(max_tokens=None, *, max_input_tokens=None, max_output_tokens=None, "
    "max_cost_usd=None, max_calls=None, enforce=None): fail the test when its LLM token "
    "usage exceeds a limit (pytest-tokenbudget)"
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    _unmark_rewrite(pluginmanager)
    from . import hookspecs

    if not hasattr(pluginmanager.hook, hookspecs.pytest_tokenbudget_price.__name__):
        pluginmanager.add_hookspecs(hookspecs)


def _unmark_rewrite(pluginmanager: pytest.PytestPluginManager) -> None:
    """pytest rewrites the asserts of every module of an installed plugin's package, importing
    each through its own hook: that doubled the cost of loading the run's machinery (about 40M
    instructions a run), and this package has no asserts that report to a user. The modules
    imported from now on load as plain Python; without the hook's private set, nothing changes."""
    hook = getattr(pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    if isinstance(marked, set):
        marked.discard(__name__.partition(".")[0])


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tokenbudget", "LLM token usage (pytest-tokenbudget)")
    if group.options:  # registered twice (entry point and pytest_plugins): add them once
        return
    for setting in SETTINGS:
        if setting.option is None:
            continue
        help_text = setting.help.replace("%", "%%")  # argparse %-formats help strings
        if setting.key != "update_baseline":
            help_text += f" [config: {setting.key}]"
        if setting.flag:
            # default None, not False: a flag left out must not mask the config value
            group.addoption(
                setting.option,
                action="store_true",
                default=None,
                dest=_dest(setting),
                help=help_text,
            )
        else:
            group.addoption(
                setting.option,
                default=None,
                dest=_dest(setting),
                type=_argparse_type(setting),
                metavar=setting.metavar,
                help=help_text,
            )


def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """A typo'd ``--tokenbudget-*`` option stops the run naming the option it was meant as."""
    unknown = unknown_options(args)
    if unknown:
        raise pytest.UsageError(f"tokenbudget: {unknown[0]}")


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin(SESSION_PLUGIN):  # registered twice: count once
        return
    config.addinivalue_line("markers", MARKER)
    pyproject = config.rootpath / "pyproject.toml"
    cli = {s.key: config.getoption(_dest(s)) for s in SETTINGS if s.option is not None}
    try:
        settings = resolve(cli, read_pyproject(pyproject), str(pyproject))
    except SettingsError as exc:
        raise pytest.UsageError(f"tokenbudget: {exc}") from None
    # the run's machinery is loaded now, not when pytest imports the plugin
    from ..attribution import ATTRIBUTION
    from .session import TokenBudgetSession

    config.add_cleanup(ATTRIBUTION.reset())
    ATTRIBUTION.aliases = settings["aliases"] or {}
    from .. import threads  # new threads and pool tasks inherit their test and label

    config.add_cleanup(threads.install())
    try:
        session = TokenBudgetSession(config, settings, f"[tool.tokenbudget.prices] of {pyproject}")
    except ValueError as exc:  # a bad price in the config (checked as the session is made)
        raise pytest.UsageError(f"tokenbudget: {exc}") from None
    ATTRIBUTION.pricing = lambda: session.pricer  # the run's pricer, made when first needed
    config.pluginmanager.register(session, SESSION_PLUGIN)
    session.update()  # the hooks implemented so far (plugins, the root conftest.py) wired in
    if settings["capture"] == "auto":
        from .. import capture

        config.add_cleanup(capture.install())
    if getattr(config.option, "htmlpath", None) and not session.is_worker:
        from .htmlcolumns import HtmlColumns  # pytest-html writes a report: its table's columns

        config.pluginmanager.register(HtmlColumns(session), "tokenbudget-html")
    if config.pluginmanager.has_plugin("xdist"):
        from .xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(session, config), "tokenbudget-xdist")


def _argparse_type(setting: Setting) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return setting.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = setting.key  # argparse names the type in its messages
    return parse


def _dest(setting: Setting) -> str:
    return f"tokenbudget_{setting.key}"


#: ``ATTRIBUTION.tracker``, bound by the fixture's first call: an import statement in the
#: fixture cost each test about 5,000 instructions, one at module level every run's start.
_tracker: Callable[[], TokenTracker] | None = None


@pytest.fixture
def token_tracker() -> TokenTracker:
    """Token usage of the running test: ``record(...)``, ``operation(name)``, ``usage``,
    ``by_model``, ``by_operation``, ``count(text)``. LLM SDK calls are recorded automatically.
    """
    global _tracker
    if _tracker is None:
        from ..attribution import ATTRIBUTION

        _tracker = ATTRIBUTION.tracker
    return _tracker()
