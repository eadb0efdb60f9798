"""An exception base for errors that carry more than their message across a pickle."""

from __future__ import annotations

from typing import Any


class PicklableError(Exception):
    """`message` is for a person; the keyword state (kind, retry_after, codes...) survives pickling.

    Python pickles an exception as `cls(*args)`, which loses every attribute not in `args`
    (SAQ and process pools pickle them). Subclasses set `self.message` in `__init__`.
    """

    message: str

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[PicklableError], message: str, state: dict[str, Any]) -> PicklableError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error
