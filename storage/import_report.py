"""What an import reports: counts, every bad row, overpayments."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class BadRow:
    """One reason a file was refused: the line (1 is the header) and what is wrong."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did, or would do (`dry_run`), or why it did nothing (`errors`)."""

    kind: str
    path: str
    dry_run: bool = False
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    errors: list[BadRow] = field(default_factory=list)
    overpayments: list[tuple[str, Decimal, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """The one line printed at the end of an import."""
        if self.errors:
            return (
                f"{self.kind}: {len(self.errors)} bad row(s) in {self.rows} row(s); "
                "nothing imported"
            )
        verb = "would import" if self.dry_run else "imported"
        line = (
            f"{self.kind}: {verb} {self.rows} row(s): {self.inserted} new, "
            f"{self.updated} updated ({self.seconds:.1f} s)"
        )
        if self.overpayments:
            line += f"; {len(self.overpayments)} overpaid invoice(s) recorded as credit"
        return line


class ImportFileError(Exception):
    """The file cannot be read at all (missing, not UTF-8)."""
