"""The domain errors. Each says whether retrying the same event can help."""

from __future__ import annotations


class RegistrarError(Exception):
    """Base of every error the registrar raises on purpose."""

    retryable = False


class NotFoundError(RegistrarError):
    """The object or volume does not exist (HTTP 404, InvalidVolume.NotFound)."""


class ConflictError(RegistrarError):
    """Something else already holds the name, or differs from what we want (HTTP 409)."""


class ForbiddenError(RegistrarError):
    """The caller is authenticated but not allowed (HTTP 403, AccessDenied)."""


class UnauthorizedError(RegistrarError):
    """The credentials were refused even after one refresh (HTTP 401)."""


class TransientError(RegistrarError):
    """Throttling, 5xx, timeouts, connection failures: a later retry may succeed."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidInputError(RegistrarError):
    """A tag, event field or setting breaks a rule. Never retried, reported instead."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
