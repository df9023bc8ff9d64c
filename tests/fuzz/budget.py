"""Hypothesis profiles for the property-based tests, and each test's share of examples.

The default profile, `ci`, is reproducible and quick: derandomized (the same examples on every
run, so CI never turns red on a new random draw), no example database, and budgets that keep
the whole folder well under a minute on a loaded 2-core machine. Deadlines are generous: the
time properties are asserted by the linear-time tests, the deadline only catches a runaway
example.

`HYPOTHESIS_PROFILE=fuzz` runs 50 times the examples, randomly drawn, with the example
database (`.hypothesis/`), to look for new failures locally:

    HYPOTHESIS_PROFILE=fuzz .venv/bin/pytest tests/fuzz -q
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
_SCALE = 50 if PROFILE == "fuzz" else 1

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=5000,  # ms per example: a stall, not a slow machine
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    deadline=5000,
    max_examples=100 * _SCALE,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(PROFILE)


def examples(count: int) -> settings:
    """Settings for a test that gets `count` examples under the `ci` profile."""
    return settings(max_examples=count * _SCALE)
