"""The package version (read by the build from this file, and by ``tokenbudget --version``)."""

__version__ = "0.1.0"
