"""The finding record shared by validation and the Template Doctor."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class Finding:
    code: str
    severity: Severity
    message: str
    fix: str = ""
    rows: list[int] = field(default_factory=list)  # 1-based row numbers as shown in the table

    def to_dict(self) -> dict:
        return asdict(self)


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.rows[:1] or [0], f.code))


def format_rows(rows: list[int], limit: int = 8) -> str:
    """'row 3', 'rows 3, 5, 9' or 'rows 1, 2, 3, ... (+40 more)'."""
    if not rows:
        return ""
    head = ", ".join(str(r) for r in rows[:limit])
    more = f" ... (+{len(rows) - limit} more)" if len(rows) > limit else ""
    return f"{'row' if len(rows) == 1 else 'rows'} {head}{more}"
