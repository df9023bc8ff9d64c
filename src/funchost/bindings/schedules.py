"""Timer schedules: NCRONTAB expressions and TimeSpan intervals, as the timer trigger reads them.

NCRONTAB has six fields, `{second} {minute} {hour} {day} {month} {day-of-week}`; five fields
mean second 0. Each field takes `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists
`a,b`; months and days of the week also by their English three-letter names (0 is Sunday).
As in NCrontab, a time matches only when its day of the month AND its day of the week both
match. A TimeSpan (`hh:mm:ss`, `d.hh:mm:ss`) fires every that long.

Occurrences are computed in the schedule's time zone (wall clock), so `0 0 9 * * *` is 9:00
local time through daylight-saving changes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from funchost.timespan import parse_timespan

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (low, high, names whose index + low is the value)
FIELDS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 59, ()),  # second
    (0, 59, ()),  # minute
    (0, 23, ()),  # hour
    (1, 31, ()),  # day of month
    (1, 12, MONTHS),  # month
    (0, 6, DAYS),  # day of week
)
_PART = re.compile(r"^(\*|[A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?(?:/(\d+))?$")
# Far enough to find any occurrence of a valid expression (a 29 February on a given weekday
# recurs within 28 years).
SEARCH_YEARS = 30


class InvalidSchedule(ValueError):
    pass


def _invalid(text: str) -> InvalidSchedule:
    return InvalidSchedule(
        f"The schedule expression '{text}' was not recognized as a valid cron expression or "
        "timespan string."
    )


def _value(token: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if token.isdigit():
        value = int(token)
    elif token.upper() in names:
        value = names.index(token.upper()) + low
    else:
        raise ValueError(token)
    if not low <= value <= high:
        raise ValueError(token)
    return value


def _field(text: str, low: int, high: int, names: tuple[str, ...]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        m = _PART.match(part)
        if not m:
            raise ValueError(part)
        start, end, step = m[1], m[2], m[3]
        if start == "*":
            if end is not None:
                raise ValueError(part)
            first, last = low, high
        else:
            first = _value(start, low, high, names)
            last = _value(end, low, high, names) if end is not None else first
            if end is None and step is not None:
                last = high  # "a/n": from a to the end, every n
        stride = int(step) if step is not None else 1
        if stride < 1 or first > last:
            raise ValueError(part)
        values.update(range(first, last + 1, stride))
    return frozenset(values)


class Schedule:
    text: str

    def next_after(self, moment: datetime) -> datetime | None:
        """The first occurrence strictly after `moment` (aware), in UTC; None if none."""
        raise NotImplementedError

    def min_interval(self, start: datetime) -> float:
        """The shortest gap between the next few occurrences, in seconds."""
        times: list[datetime] = []
        moment = start
        for _ in range(5):
            nxt = self.next_after(moment)
            if nxt is None:
                break
            times.append(nxt)
            moment = nxt
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        return min(gaps) if gaps else float("inf")


@dataclass(frozen=True)
class IntervalSchedule(Schedule):
    text: str
    seconds: float

    def next_after(self, moment: datetime) -> datetime | None:
        return (moment + timedelta(seconds=self.seconds)).astimezone(UTC)


class CronSchedule(Schedule):
    def __init__(self, text: str, fields: tuple[frozenset[int], ...], zone: tzinfo) -> None:
        self.text = text
        self.seconds, self.minutes, self.hours, self.days, self.months, self.weekdays = fields
        self.zone = zone

    def next_after(self, moment: datetime) -> datetime | None:
        local = moment.astimezone(self.zone).replace(tzinfo=None, microsecond=0)
        t = local + timedelta(seconds=1)
        limit = local.replace(year=local.year + SEARCH_YEARS)
        while t < limit:
            if t.month not in self.months:
                year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = datetime(year, month, 1)
                continue
            # isoweekday: Monday 1 .. Sunday 7; NCRONTAB: Sunday 0 .. Saturday 6
            if t.day not in self.days or t.isoweekday() % 7 not in self.weekdays:
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
                continue
            if t.second not in self.seconds:
                t += timedelta(seconds=1)
                continue
            aware = t.replace(tzinfo=self.zone).astimezone(UTC)
            if aware > moment:
                return aware
            t += timedelta(seconds=1)  # a wall time repeated by a DST change
        return None


def parse_schedule(text: str, zone: tzinfo = UTC) -> Schedule:
    """The schedule of a timer trigger, after `%Setting%` resolution."""
    stripped = text.strip()
    if ":" in stripped and " " not in stripped:
        seconds = parse_timespan(stripped)
        if seconds is None or seconds <= 0:
            raise _invalid(text)
        return IntervalSchedule(stripped, seconds)
    parts = stripped.split()
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) != 6:
        raise _invalid(text)
    try:
        fields = tuple(
            _field(part, low, high, names)
            for part, (low, high, names) in zip(parts, FIELDS, strict=True)
        )
    except ValueError:
        raise _invalid(text) from None
    schedule = CronSchedule(stripped, fields, zone)
    if schedule.next_after(datetime.now(UTC)) is None:
        raise _invalid(text)
    return schedule


def schedule_zone(settings: Mapping[str, str]) -> tzinfo:
    """The time zone schedules run in: WEBSITE_TIME_ZONE, else TZ, else the machine's."""
    for name in ("WEBSITE_TIME_ZONE", "TZ"):
        value = (settings.get(name) or "").strip().lstrip(":")
        if not value:
            continue
        if value.upper() in ("UTC", "Z", "COORDINATED UNIVERSAL TIME"):
            return UTC
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidSchedule(
                f"{name} '{value}' is not a known time zone; use an IANA name such as "
                "'Europe/Paris' or 'America/New_York'."
            ) from None
    localtime = Path("/etc/localtime")
    if localtime.exists():
        try:
            with localtime.open("rb") as f:
                return ZoneInfo.from_file(f)
        except (OSError, ValueError):
            pass
    return UTC
