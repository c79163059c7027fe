"""Renderers: data in, text out (pure: no pytest, no I/O)."""
