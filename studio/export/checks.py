"""The result of checking a written GGUF: one line per check, shared by the transformers read-back (verify) and the
llama.cpp run (llamacpp_check)."""
from __future__ import annotations

from dataclasses import dataclass, field

from studio.locale import T, Text


@dataclass
class Check:
    name: str          # metadata | template | tokenization | logits | stops | llamacpp
    ok: bool
    detail: Text       # in both languages (shown in the UI's language, the CLI's English)
    checked: bool = True   # False: not run (e.g. out of time); ok stays True and the detail says so


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def lines(self) -> list[str]:
        return [T("export.check_line", mark=("ok " if c.checked else "-- ") if c.ok else "FAIL",
                  name=T(f"export.n.{c.name}"), detail=c.detail) for c in self.checks]
