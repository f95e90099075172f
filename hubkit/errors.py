"""hubkit's exception hierarchy.

Each exception carries its exit code and formats its own message, the way
click's exceptions do.  Only ``hubkit.cli`` turns them into a process exit.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_PREREQ = 3


class HubkitError(Exception):
    """Base class: a failed operation (exit 1) unless a subclass says otherwise."""

    exit_code = EXIT_FINDINGS

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def format(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class UsageError(HubkitError):
    exit_code = EXIT_USAGE


class PrerequisiteError(HubkitError):
    """Something outside hubkit is missing: root, a tool, a running lab."""

    exit_code = EXIT_PREREQ


class LockedError(HubkitError):
    """Another run holds the hub lock."""


@dataclass(frozen=True, order=True)
class Origin:
    """Where a value came from: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Finding:
    """One located problem.  Validation, YAML errors and policies all use it."""

    code: str
    message: str
    origin: Origin | None = None
    hint: str | None = None
    hub: str | None = None
    severity: str = "error"
    # The other hub of a fleet-wide conflict (overlap, duplicate): validating
    # either hub alone must still report it.
    related: str | None = None

    def format(self) -> str:
        where = f"{self.origin}: " if self.origin else ""
        text = f"{where}{self.severity} {self.code}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def sort_key(self):
        o = self.origin
        return (o.file, o.line, o.col) if o else ("", 0, 0), self.code, self.message


class FindingsError(HubkitError):
    """Raised when findings stop an operation (e.g. render of an invalid hub)."""

    def __init__(self, findings: list[Finding]):
        self.findings = sorted(findings, key=Finding.sort_key)
        super().__init__(f"{len(self.findings)} finding(s)")

    def format(self) -> str:
        return "\n".join(f.format() for f in self.findings)


class ConfigError(HubkitError):
    """A single located input error (file:line:col, code, hint)."""

    def __init__(self, finding: Finding):
        self.finding = finding
        super().__init__(finding.message, finding.hint)

    def format(self) -> str:
        return self.finding.format()
