"""The storage endpoint's request ids and HTTP dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from funchost.endpoint.app import _request_ids, http_date

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_request_ids_are_uuid_shaped_and_never_repeat() -> None:
    ids = [_request_ids.next() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(UUID.fullmatch(i) for i in ids)


def test_http_dates_are_rfc_1123_in_gmt_whatever_the_zone() -> None:
    base = datetime(2026, 12, 7, 21, 5, 9, 999_000, tzinfo=UTC)
    for moment in (base, base + timedelta(days=40), base.astimezone(timezone(timedelta(hours=-5)))):
        expected = format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)
        assert http_date(moment) == expected
    assert http_date(base) == "Mon, 07 Dec 2026 21:05:09 GMT"
