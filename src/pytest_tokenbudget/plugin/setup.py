"""What the plugin's hooks do as a run starts (``plugin/__init__.py`` calls them): add the
options, resolve the settings, and wire in the run's machinery: attribution, the pricer, our
hooks, thread inheritance, capture and the session's plugins."""

from __future__ import annotations

import argparse
from typing import Any, Callable

import pytest

from ..config import SETTINGS, Setting, SettingsError, read_pyproject, resolve

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


def add_options(parser: pytest.Parser) -> None:
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


def _dest(setting: Setting) -> str:
    return f"tokenbudget_{setting.key}"


def configure(config: pytest.Config) -> None:
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
