"""pytest11 entry point ``tokenbudget``: options, config, marker, fixture and wiring.

Importing this module must stay cheap: tiktoken, the price table and the HTTP clients are
loaded only when used. Even the settings (``config``) load in the first hook: pytest imports
an installed plugin through its assertion rewriter, which reads each module's cached code far
more slowly than Python's own import, until ``pytest_addhooks`` unmarks the package.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from ..config import Setting
    from ..tracker import TokenTracker

SESSION_PLUGIN = "tokenbudget-session"

MARKER = (
    "token_budget(max_tokens=None, *, max_input_tokens=None, max_output_tokens=None, "
    "max_cost_usd=None, max_calls=None, enforce=None): fail the test when its LLM token "
    "usage exceeds a limit (pytest-tokenbudget)"
)


def _argparse_type(setting: Setting) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return setting.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = setting.key  # argparse names the type in its messages
    return parse


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
    from ..config import SETTINGS

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
    from ..config import unknown_options

    unknown = unknown_options(args)
    if unknown:
        raise pytest.UsageError(f"tokenbudget: {unknown[0]}")


def _dest(setting: Setting) -> str:
    return f"tokenbudget_{setting.key}"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin(SESSION_PLUGIN):  # registered twice: count once
        return
    from ..config import SETTINGS, SettingsError, read_pyproject, resolve

    config.addinivalue_line("markers", MARKER)
    pyproject = config.rootpath / "pyproject.toml"
    cli = {s.key: config.getoption(_dest(s)) for s in SETTINGS if s.option is not None}
    try:
        settings = resolve(cli, read_pyproject(pyproject), str(pyproject))
    except SettingsError as exc:
        raise pytest.UsageError(f"tokenbudget: {exc}") from None
    # the run's machinery is loaded now, not when pytest imports the plugin
    from ..attribution import ATTRIBUTION
    from ..pricing import LazyPricer
    from .hooks import wire
    from .session import TokenBudgetSession

    origin = f"[tool.tokenbudget.prices] of {pyproject}"
    try:
        pricer = LazyPricer(settings["prices"], origin)
    except ValueError as exc:
        raise pytest.UsageError(f"tokenbudget: {exc}") from None
    config.add_cleanup(ATTRIBUTION.reset(pricer))
    ATTRIBUTION.aliases = settings["aliases"] or {}
    wire(config, pricer)
    from .. import threads  # new threads and pool tasks inherit their test and label

    config.add_cleanup(threads.install())
    session = TokenBudgetSession(config, settings, pricer)
    config.pluginmanager.register(session, SESSION_PLUGIN)
    if settings["capture"] == "auto":
        from .. import capture

        config.add_cleanup(capture.install())
    if getattr(config.option, "htmlpath", None) and not session.is_worker:
        from .htmlcolumns import HtmlColumns  # pytest-html writes a report: its table's columns

        config.pluginmanager.register(HtmlColumns(session), "tokenbudget-html")
    if config.pluginmanager.has_plugin("xdist"):
        from .xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(session, config), "tokenbudget-xdist")


@pytest.fixture
def token_tracker() -> TokenTracker:
    """Token usage of the running test: ``record(...)``, ``operation(name)``, ``usage``,
    ``by_model``, ``by_operation``, ``count(text)``. LLM SDK calls are recorded automatically.
    """
    from ..attribution import ATTRIBUTION

    return ATTRIBUTION.tracker()
