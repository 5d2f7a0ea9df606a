"""The one error type cosmosctl shows to users: a one-line message plus a hint."""

from __future__ import annotations


class CosmosError(Exception):
    """A user-facing error: one line saying what went wrong and, when we know, what to do about it.

    The CLI prints ``str(err)`` and exits with ``exit_code``; library callers (the DIY assistant)
    can read ``message`` and ``hint`` separately.
    """

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int = 1) -> None:
        self.message = " ".join(message.split())
        self.hint = " ".join(hint.split()) if hint else None
        self.exit_code = exit_code
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.message} Hint: {self.hint}" if self.hint else self.message
