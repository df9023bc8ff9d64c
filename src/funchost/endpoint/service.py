"""A service's properties (Get and Set Blob/Queue Service Properties), for both services.

The document is kept as the caller last set it: a Set replaces the top-level sections it names
(Logging, HourMetrics, MinuteMetrics, Cors, DefaultServiceVersion, DeleteRetentionPolicy,
StaticWebsite) and keeps the others, as Azure does. funchost keeps these settings but applies
none of them (there are no storage logs or metrics, and no CORS on the storage endpoint).
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ElementTree

from funchost.endpoint import xml
from funchost.endpoint.app import Call, Reply

_DISABLED_METRICS = (
    "<Version>1.0</Version><Enabled>false</Enabled>"
    "<RetentionPolicy><Enabled>false</Enabled></RetentionPolicy>"
)
DEFAULT = (
    "<StorageServiceProperties>"
    "<Logging><Version>1.0</Version><Delete>false</Delete><Read>false</Read>"
    "<Write>false</Write><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></Logging>"
    f"<HourMetrics>{_DISABLED_METRICS}</HourMetrics>"
    f"<MinuteMetrics>{_DISABLED_METRICS}</MinuteMetrics>"
    "<Cors />"
    "</StorageServiceProperties>"
)
MAX_BODY = 1024 * 1024


def _stored(db: sqlite3.Connection, service: str) -> str:
    row = db.execute(
        "SELECT document FROM service_properties WHERE service = ?", (service,)
    ).fetchone()
    return DEFAULT if row is None else str(row[0])


def _merge(db: sqlite3.Connection, service: str, given: ElementTree.Element) -> None:
    current = ElementTree.fromstring(_stored(db, service))
    for section in given:
        old = current.find(section.tag)
        if old is not None:
            current.remove(old)
        current.append(section)
    db.execute(
        "INSERT INTO service_properties (service, document) VALUES (?, ?)"
        " ON CONFLICT (service) DO UPDATE SET document = excluded.document",
        (service, ElementTree.tostring(current, encoding="unicode")),
    )


async def get_properties(call: Call) -> Reply:
    service = call.operation.access.service
    document = await call.store.run(lambda db: _stored(db, service))
    return Reply(200, body=xml.document(document), content_type="application/xml")


async def set_properties(call: Call) -> Reply:
    given = xml.parse(await call.body(MAX_BODY))
    if given.tag != "StorageServiceProperties":
        raise xml.invalid_xml("The root element must be StorageServiceProperties.")
    service = call.operation.access.service
    await call.store.run(lambda db: _merge(db, service, given))
    return Reply(202)
