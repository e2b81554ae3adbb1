"""What a sweep needs besides the executor (engine/service.py: Registrar.rows): progress."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """Wraps a long iteration to show progress (the CLI passes a tqdm bar on stderr)."""

    def __call__(self, items: Iterable[T], label: str, total: int | None = None) -> Iterable[T]:
        ...


def no_progress(items: Iterable[T], label: str, total: int | None = None) -> Iterable[T]:
    return items
