"""The template contract: saved beside every adapter and merged model, read by training, chat, merge and eval.
Chat, merge and eval never guess a template: they build prompts and stop tokens from this. No torch."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.storage import atomic_write_text
from studio.data.conversations import Conversation, system_with_context
from studio.jobs.folders import CONTRACT as CONTRACT_FILE  # noqa: E402 - the one spelling of the file's name


@dataclass
class Contract:
    base_model: str                      # what the user chose: local folder, hub id or 'default'
    base_model_path: str                 # where it was loaded from
    base_model_hash: str                 # hash of the base's config + weights index (to refuse mismatched bases)
    template: str
    system_prompt: str
    notes: str                           # persona reference notes given to the model (policy: notes_in_prompt)
    notes_in_prompt: bool
    bos_token: str | None
    eos_token: str | None
    end_of_turn: str | None              # the token that closes a reply in training
    stop_token_ids: list[int]            # generation stops on any of these (llama3: <|eot_id|> and EOS)
    max_length: int
    train_on: str
    data_hash: str
    added_tokens: list[str] = field(default_factory=list)
    persona_name: str = ""
    style_markers: list[str] = field(default_factory=list)
    target_chars: int = 0
    replay_share: float = 0.0            # share of training rows that were the base model's replay answers
    replay_rows: int = 0
    replay_system: str = ""              # none | persona ('' when no replay)
    method: str = "sft"                  # sft, or the preference method (dpo, kto) that made this adapter
    parent_run: str = ""                 # the run a preference run started from (its reference)
    preferences_hash: str = ""
    preference_rows: int = 0
    version: int = 1

    def system_for(self, context: str = "") -> str:
        return system_with_context(self.system_prompt, self.notes if self.notes_in_prompt else "", context)

    def conversation(self, history: list[tuple[str, str]], message: str, context: str = "") -> Conversation:
        """The conversation whose generation prompt chat and eval feed the model."""
        return Conversation(self.system_for(context), [*history, (message, "")])

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / CONTRACT_FILE
        atomic_write_text(path, json.dumps(asdict(self), ensure_ascii=False, indent=1), keep_backups=0)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Contract:
        path = Path(folder)
        path = path / CONTRACT_FILE if path.is_dir() else path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StudioError("err.contract.missing", parent=path.parent, contract_file=CONTRACT_FILE) from None
        except (OSError, ValueError) as e:
            raise StudioError("err.contract.unreadable", path=path, reason=e) from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def model_hash(folder: str | Path) -> str:
    """A cheap identity for a model folder: config.json plus the names and sizes of its weight files."""
    folder = Path(folder)
    h = hashlib.sha256()
    if not folder.is_dir():
        return "hub:" + str(folder)
    cfg = folder / "config.json"
    if cfg.exists():
        h.update(cfg.read_bytes())
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        h.update(f"{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


def data_hash(rows: list[list[str]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, ensure_ascii=False).encode())
    return h.hexdigest()[:16]
