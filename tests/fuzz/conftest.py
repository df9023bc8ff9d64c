"""The property-based tests' Hypothesis profile (tests/fuzz/budget.py) is loaded before any of
them is collected."""

from tests.fuzz import budget  # noqa: F401
