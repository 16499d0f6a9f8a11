"""Write pairs as CSV or as `messages` JSONL (loadable by datasets.load_dataset("json", ...)). No torch."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.jsonl import lines_text
from studio.core.storage import atomic_write_text
from studio.data.conversations import group_dialogs
from studio.data.csv_cells import neutralize
from studio.data.persona import COLUMNS, Persona, QAPair


def pairs_to_csv(pairs: list[QAPair]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([neutralize(c) for c in p.as_row()] for p in pairs)
    return buf.getvalue()


def pairs_to_messages_jsonl(pairs: list[QAPair], system_prompt: str = "") -> str:
    """One record per conversation: {"dialog_id", "messages": [{role, content}], "contexts": [per user turn]}."""
    lines = []
    for group in group_dialogs(pairs):
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        for _, p in group:
            messages += [{"role": "user", "content": p.question}, {"role": "assistant", "content": p.answer}]
        record = {"dialog_id": group[0][1].dialog_id, "messages": messages,
                  "contexts": [p.context for _, p in group]}
        lines.append(record)
    return lines_text(lines)


def export_pairs(persona: Persona, out: str | Path) -> Path:
    """Write by extension: .csv (UTF-8 with BOM so Excel shows Japanese), .tsv, or .jsonl."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        atomic_write_text(out, "\ufeff" + pairs_to_csv(persona.pairs), keep_backups=0)
    elif suffix == ".tsv":
        buf = io.StringIO(newline="")
        csv.writer(buf, delimiter="\t", lineterminator="\n").writerows(
            [list(COLUMNS)] + [[neutralize(c) for c in p.as_row()] for p in persona.pairs])
        atomic_write_text(out, buf.getvalue(), keep_backups=0)
    elif suffix == ".jsonl":
        atomic_write_text(out, pairs_to_messages_jsonl(persona.pairs, persona.system_prompt), keep_backups=0)
    else:
        raise StudioError("err.export_pairs.bad_suffix", name=out.name, extension=suffix or 'no extension')
    return out
