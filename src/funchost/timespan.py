"""The .NET TimeSpan text form used across host.json and function.json ("hh:mm:ss")."""

from __future__ import annotations

import re

_TIMESPAN = re.compile(
    r"^(?P<neg>-)?(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2})(?::(?P<s>\d{1,2})"
    r"(?:\.(?P<frac>\d{1,7}))?)?$"
)


def parse_timespan(text: str) -> float | None:
    """Seconds for a TimeSpan string such as "00:05:00" or "1.02:03:04.5"; None if invalid."""
    m = _TIMESPAN.match(text.strip())
    if not m:
        return None
    hours, minutes = int(m["h"]), int(m["m"])
    seconds = int(m["s"] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    total = int(m["days"] or 0) * 86400 + hours * 3600 + minutes * 60 + seconds
    value = total + (float("0." + m["frac"]) if m["frac"] else 0.0)
    return -value if m["neg"] else value


def format_timespan(seconds: float) -> str:
    """.NET's constant ("c") form, as the host prints a TimeSpan: `[-][d.]hh:mm:ss[.fffffff]`."""
    ticks = round(abs(seconds) * 10_000_000)
    whole, fraction = divmod(ticks, 10_000_000)
    days, rem = divmod(whole, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    sign = "-" if seconds < 0 and ticks else ""
    day_part = f"{days}." if days else ""
    text = f"{sign}{day_part}{h:02d}:{m:02d}:{s:02d}"
    return f"{text}.{fraction:07d}" if fraction else text
