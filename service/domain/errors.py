"""What the domain says when it refuses something; the HTTP layer maps each to a problem."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong with a request: where (a JSON path) and why."""

    path: str
    reason: str


class DomainError(Exception):
    """Base for refusals the client can act on."""


class Rejected(DomainError):
    """The request is well-formed but breaks a rule: unknown entity, missing role..."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{problem.path}: {problem.reason}" for problem in problems))
        self.problems = problems


class Conflict(DomainError):
    """The request was valid against an older state of a stream, or reuses an id."""

    def __init__(self, detail: str, *, stream: str | None = None, current_version: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.stream = stream
        self.current_version = current_version


class Forbidden(DomainError):
    """The request's key may not do this: its scope does not allow it."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotCaughtUp(DomainError):
    """A read asked for an event the projection has not applied yet: worth retrying shortly."""

    def __init__(self, position: int) -> None:
        super().__init__(f"The read model does not include position {position} yet; retry shortly.")
        self.detail = str(self)
        self.position = position


class BeyondTheLog(DomainError):
    """A read asked to wait for a position the log has not reached: waiting would not help."""

    def __init__(self, position: int, head: int) -> None:
        super().__init__(
            f"No event has position {position}: the log ends at {head}. "
            "Pass the position an append answered with."
        )
        self.detail = str(self)
        self.position = position
        self.head = head
