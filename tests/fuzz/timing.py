"""Telling linear time from quadratic on a busy machine.

A test times the same work on a small input and on one `factor` times larger, alternating,
and keeps the best time of each: a run that the machine preempted is slower, never faster.
Linear work then takes about `factor` times as long, quadratic `factor` squared; the check
allows 4 x `factor` (16 x 16 = 256 for quadratic against 64 allowed), and a floor for inputs
so small that the timer's noise dominates.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(call: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def assert_linear(
    small: Callable[[], object],
    large: Callable[[], object],
    factor: int,
    floor: float,
    context: object = None,
    repeat: int = 5,
) -> None:
    """`large` (an input `factor` times `small`'s) takes at most 4 x `factor` as long as
    `small`, or `floor` seconds."""
    t_small = t_large = float("inf")
    for _ in range(repeat):
        t_small = min(t_small, best_time(small, 1))
        t_large = min(t_large, best_time(large, 1))
    assert t_large <= max(4 * factor * t_small, floor), (context, t_small, t_large)
