"""The finding record shared by validation and the Template Doctor."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from studio.locale import Text

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class Finding:
    code: str
    severity: Severity
    message: str                                    # English (the CLI's and --json's language)
    fix: str = ""
    rows: list[int] = field(default_factory=list)  # 1-based row numbers as shown in the table
    texts: tuple[Text, Text] | None = field(default=None, repr=False, compare=False)  # for other languages

    @classmethod
    def of(cls, code: str, severity: Severity, message: Text, fix: Text, rows: list[int] | None = None) -> Finding:
        return cls(code, severity, str(message), str(fix), list(rows or []), (message, fix))

    def localized(self, lang: str) -> tuple[str, str]:
        """(message, fix) in `lang`."""
        if self.texts is None:
            return self.message, self.fix
        return self.texts[0].render(lang), self.texts[1].render(lang)

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "rows": list(self.rows), "message": self.message,
                "fix": self.fix}


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.rows[:1] or [0], f.code))
