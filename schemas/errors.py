"""The product's one base exception."""

from __future__ import annotations

from typing import Any


class ArxivDigestsError(Exception):
    """Every error the product raises on purpose. Its message is the line a user sees; its
    keyword context (a URL, an ID, a line) stays on the instance as attributes. It survives
    pickling with its context, as a parse worker process or a Prefect result hands it on."""

    def __init__(self, message: str, **context: Any):
        super().__init__(message)
        self.message = message
        self.context = context
        for name, value in context.items():
            setattr(self, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other arguments than the base: rebuild from message and context.
        return (_rebuild, (type(self), self.message, self.context))


def _rebuild(cls: type[ArxivDigestsError], message: str, context: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    ArxivDigestsError.__init__(error, message, **context)
    return error
