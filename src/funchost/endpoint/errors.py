"""Errors of the storage endpoint, answered as Azure Storage answers them.

Every failure is a status, an error code (`x-ms-error-code` and `<Code>`) and a message that
ends with the request id and time, in Azure's XML body; some add detail elements
(`AuthenticationErrorDetail`, `QueryParameterName`, ...). The SDKs pick their exception types
from the code, so the code and status are the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from xml.sax.saxutils import escape

from funchost.storage import base


class StorageFailure(Exception):
    """The request fails with `status` and Azure's error `code`."""

    def __init__(
        self, status: int, code: str, message: str, detail: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = dict(detail or {})

    def body(self, request_id: str, now: datetime) -> bytes:
        """Azure's XML error body: `<Error><Code/><Message/>...</Error>`."""
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # Azure: 7 fraction digits
        message = f"{self.message}\nRequestId:{request_id}\nTime:{stamp}"
        extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in self.detail.items())
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            f"<Error><Code>{self.code}</Code><Message>{escape(message)}</Message>{extra}</Error>"
        ).encode()


AUTHENTICATION_MESSAGE = (
    "Server failed to authenticate the request. Make sure the value of Authorization header is "
    "formed correctly including the signature."
)


def body_too_large(limit: int) -> StorageFailure:
    return StorageFailure(
        413,
        "RequestBodyTooLarge",
        "The request body is too large and exceeds the maximum permissible limit.",
        {"MaxLimit": str(limit)},
    )


def authentication_failed(detail: str) -> StorageFailure:
    return StorageFailure(
        403, "AuthenticationFailed", AUTHENTICATION_MESSAGE, {"AuthenticationErrorDetail": detail}
    )


def no_authentication() -> StorageFailure:
    return StorageFailure(
        401,
        "NoAuthenticationInformation",
        "Server failed to authenticate the request. Please refer to the information in the "
        "www-authenticate header.",
    )


def _not_authorized(code: str, what: str) -> StorageFailure:
    return StorageFailure(
        403, code, f"This request is not authorized to perform this operation using this {what}."
    )


def permission_mismatch() -> StorageFailure:
    return _not_authorized("AuthorizationPermissionMismatch", "permission")


def service_mismatch() -> StorageFailure:
    return _not_authorized("AuthorizationServiceMismatch", "service")


def resource_type_mismatch() -> StorageFailure:
    return _not_authorized("AuthorizationResourceTypeMismatch", "resource type")


def protocol_mismatch() -> StorageFailure:
    return _not_authorized("AuthorizationProtocolMismatch", "protocol")


def source_ip_mismatch() -> StorageFailure:
    return _not_authorized("AuthorizationSourceIPMismatch", "source IP")


# What the store's errors are in Azure's words, most specific class first.
_STORE_ERRORS: list[tuple[type[base.StorageError], int, str, str]] = [
    (base.QueueNotFound, 404, "QueueNotFound", "The specified queue does not exist."),
    (base.ContainerNotFound, 404, "ContainerNotFound", "The specified container does not exist."),
    (
        base.PopReceiptMismatch,
        400,
        "PopReceiptMismatch",
        "The specified pop receipt did not match the pop receipt for a dequeued message.",
    ),
    (base.MessageNotFound, 404, "MessageNotFound", "The specified message does not exist."),
    (base.BlobExists, 409, "BlobAlreadyExists", "The specified blob already exists."),
]


# The store's refusals of blob operations (BlobRefused), by Azure's error code.
BLOB_REFUSALS: dict[str, tuple[int, str]] = {
    "NotModified": (304, "The condition specified using HTTP conditional header(s) is not met."),
    "ConditionNotMet": (
        412,
        "The condition specified using HTTP conditional header(s) is not met.",
    ),
    "BlobAlreadyExists": (409, "The specified blob already exists."),
    "BlobNotFound": (404, "The specified blob does not exist."),
    "InvalidBlockList": (400, "The specified block list is invalid."),
    "BlockCountExceedsLimit": (
        409,
        "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.",
    ),
    "LeaseIdMissing": (
        412,
        "There is currently a lease on the blob and no lease ID was specified in the request.",
    ),
    "LeaseIdMismatchWithBlobOperation": (
        412,
        "The lease ID specified did not match the lease ID for the blob.",
    ),
    "LeaseNotPresentWithBlobOperation": (412, "There is currently no lease on the blob."),
    "LeaseAlreadyPresent": (409, "There is already a lease present."),
    "LeaseIdMismatchWithLeaseOperation": (
        409,
        "The lease ID specified did not match the lease ID for the blob.",
    ),
    "LeaseNotPresentWithLeaseOperation": (409, "There is currently no lease on the blob."),
    "LeaseIsBreakingAndCannotBeAcquired": (
        409,
        "The lease ID matched, but the lease is currently in breaking state and cannot be "
        "acquired until it is broken.",
    ),
    "LeaseIsBrokenAndCannotBeRenewed": (
        409,
        "The lease ID matched, but the lease has been broken explicitly and cannot be renewed.",
    ),
    "LeaseIsBreakingAndCannotBeChanged": (
        409,
        "The lease ID matched, but the lease is currently in breaking state and cannot be changed.",
    ),
}


def from_store(error: base.StorageError) -> StorageFailure:
    """The answer to a store error a handler let through."""
    if isinstance(error, base.BlobRefused):
        status, message = BLOB_REFUSALS[error.code]
        return StorageFailure(status, error.code, message)
    for kind, status, code, message in _STORE_ERRORS:
        if isinstance(error, kind):
            return StorageFailure(status, code, message)
    raise error
