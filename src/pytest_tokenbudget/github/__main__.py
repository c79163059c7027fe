"""``python -m pytest_tokenbudget.github STEP``: the GitHub Action's steps."""

import sys

from .steps import main

sys.exit(main())
