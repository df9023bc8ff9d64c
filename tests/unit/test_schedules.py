"""NCRONTAB and TimeSpan schedules: parsing, next occurrences, time zones."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from funchost.bindings.schedules import InvalidSchedule, parse_schedule, schedule_zone


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */5 * * * *", "2024-01-01T10:02:30", "2024-01-01T10:05:00"),
        ("*/10 * * * * *", "2024-01-01T10:00:05", "2024-01-01T10:00:10"),
        ("0 30 9 * * *", "2024-01-01T09:30:00", "2024-01-02T09:30:00"),  # strictly after
        ("0 0 9 * * MON-FRI", "2024-01-06T12:00:00", "2024-01-08T09:00:00"),  # Sat -> Mon
        ("0 0 0 1 JAN,jul *", "2024-02-01T00:00:00", "2024-07-01T00:00:00"),
        ("0 15,45 8-10 * * *", "2024-01-01T10:45:00", "2024-01-02T08:15:00"),
        ("5 4 * * *", "2024-01-01T04:05:00", "2024-01-02T04:05:00"),  # 5 fields: second 0
        ("0 0 12 29 2 *", "2024-03-01T00:00:00", "2028-02-29T12:00:00"),
        ("0 0 0 13 * 5", "2024-01-01T00:00:00", "2024-09-13T00:00:00"),  # Friday the 13th (AND)
        ("0 0 0 1-10/3 * *", "2024-01-02T00:00:00", "2024-01-04T00:00:00"),
        ("0 0 6/6 * * *", "2024-01-01T12:00:00", "2024-01-01T18:00:00"),
    ],
)
def test_cron_next_occurrence(expression: str, after: str, expected: str) -> None:
    assert parse_schedule(expression).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    "expression",
    ["", "* * *", "0 0 25 * * *", "60 * * * * *", "0 0 0 31 2 *", "0 0 0 * * 7", "nope", "5-1 * * * *",
     "*/0 * * * * *", "00:00:00", "25:00:00", "0 0 0 * * * *"],
)  # fmt: skip
def test_invalid_schedules_get_the_hosts_message(expression: str) -> None:
    with pytest.raises(InvalidSchedule) as error:
        parse_schedule(expression)
    assert str(error.value) == (
        f"The schedule expression '{expression}' was not recognized as a valid cron expression "
        "or timespan string."
    )


def test_a_timespan_fires_every_interval() -> None:
    schedule = parse_schedule("00:05:00")
    assert schedule.next_after(at("2024-01-01T10:02:30")) == at("2024-01-01T10:07:30")
    assert parse_schedule("1.00:00:00").next_after(at("2024-01-01T00:00:00")) == at(
        "2024-01-02T00:00:00"
    )


def test_wall_clock_schedules_follow_the_time_zone_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    schedule = parse_schedule("0 0 9 * * *", paris)
    # 9:00 in Paris is 8:00 UTC in winter and 7:00 UTC in summer.
    assert schedule.next_after(at("2024-03-30T12:00:00")) == at("2024-03-31T07:00:00")
    assert schedule.next_after(at("2024-03-29T12:00:00")) == at("2024-03-30T08:00:00")


def test_schedules_firing_more_than_once_a_minute_are_frequent() -> None:
    now = at("2024-01-01T00:00:00")
    assert parse_schedule("*/30 * * * * *").min_interval(now) == 30
    assert parse_schedule("0 * * * * *").min_interval(now) == 60


def test_time_zone_settings() -> None:
    assert schedule_zone({"WEBSITE_TIME_ZONE": "America/New_York"}) == ZoneInfo("America/New_York")
    assert schedule_zone({"TZ": "UTC"}) == UTC
    with pytest.raises(InvalidSchedule, match="WEBSITE_TIME_ZONE 'Mars/Base' is not a known"):
        schedule_zone({"WEBSITE_TIME_ZONE": "Mars/Base"})
