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


class NotFound(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
