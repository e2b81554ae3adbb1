"""The registrar's errors: each class means one thing and says whether a retry can help.

| error | means | retry helps |
|---|---|---|
| `InvalidInputError` | a user's tag or an event field breaks a rule | no |
| `SettingsError` | a deployment setting (`REGISTRAR_*`) breaks a rule | no |
| `RejectedError` | the API server refused an object we sent (HTTP 400, 422) | no |
| `NotFoundError` | the object, volume or namespace does not exist (404) | no |
| `ConflictError` | something else already holds the name (409) | no |
| `ForbiddenError` | authenticated but not allowed (403, AccessDenied) | no |
| `UnauthorizedError` | the credentials were refused even after a refresh (401) | no |
| `TransientError` | throttling, 5xx, timeouts, connection failures | yes |
| `ProtocolError` | a peer answered in a way the registrar does not understand | no |
| `ClusterUnreachableError` | the cluster's endpoint is closed to where the function runs | no |

A programmer's mistake (an unsupported kind, a bad argument) is a `ValueError` or `TypeError`,
never one of these. `RegistrarError` itself is only a base: nothing raises it.
"""

from __future__ import annotations


class RegistrarError(Exception):
    """Base of every error the registrar raises on purpose; never raised by itself."""

    retryable = False


class InvalidInputError(RegistrarError):
    """A user's tag or an event field breaks a rule: reported on the volume, never retried."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class SettingsError(RegistrarError):
    """A `REGISTRAR_*` setting breaks a rule: the deployment must be fixed."""

    def __init__(self, name: str, rule: str) -> None:
        super().__init__(f"{name}: {rule}")
        self.name = name
        self.rule = rule


class RejectedError(RegistrarError):
    """The API server refused an object the registrar sent (HTTP 400 or 422)."""

    def __init__(self, resource: str, reason: str) -> None:
        super().__init__(f"{resource}: {reason}")
        self.resource = resource
        self.reason = reason


class NotFoundError(RegistrarError):
    """The object, volume or namespace does not exist (HTTP 404, InvalidVolume.NotFound)."""


class ConflictError(RegistrarError):
    """Something else already holds the name (HTTP 409)."""


class ForbiddenError(RegistrarError):
    """The caller is authenticated but not allowed (HTTP 403, AccessDenied)."""


class UnauthorizedError(RegistrarError):
    """The credentials were refused even after one refresh (HTTP 401), or there are none."""


class ProtocolError(RegistrarError):
    """A peer answered outside what the registrar understands (an unexpected HTTP status)."""


class ClusterUnreachableError(RegistrarError):
    """The cluster's API endpoint is private, or open only to some addresses, and the function
    could not connect: the deployment must change (its VPC settings), not the event."""


class TransientError(RegistrarError):
    """Throttling, 5xx, timeouts, connection failures: a later retry may succeed."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeferredError(TransientError):
    """Items were left undone because the function's time was nearly up: a retry finishes them."""
