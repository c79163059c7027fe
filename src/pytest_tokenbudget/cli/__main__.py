"""``python -m pytest_tokenbudget.cli``: the ``tokenbudget`` command."""

from . import run

run()
