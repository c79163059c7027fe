"""``python -m pytest_tokenbudget.github STEP``: the GitHub Action's steps."""

import sys

from . import main

sys.exit(main())
