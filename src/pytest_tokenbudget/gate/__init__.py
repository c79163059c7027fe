"""Budgets and the baseline comparison: pure verdicts on usage."""
