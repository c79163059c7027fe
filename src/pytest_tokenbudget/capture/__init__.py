"""Automatic SDK capture (being built on the capture branch)."""

from __future__ import annotations

from typing import Callable


def install() -> Callable[[], None]:
    return lambda: None
