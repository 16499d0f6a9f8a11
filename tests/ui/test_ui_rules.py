"""The Persona tab's character rules: shown from the persona (found in its answers), edited in the table and saved
to persona.yaml, an unreadable value said with the rule's name (nothing changed), reset to the found rules."""
import shutil
from pathlib import Path

import pandas as pd

from studio.data import persona_session as ps
from studio.data.persona_store import load_persona
from studio.ui.rules_panel import on_reset, on_rules, rules_frame

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "personas" / "ayano"


def test_rules_are_shown_edited_saved_and_reset(tmp_path):
    folder = tmp_path / "ayano"
    shutil.copytree(SAMPLE, folder)
    s = ps.open_session(folder)
    frame = rules_frame(s, "ja")
    assert list(frame.columns) == ["ルール", "有効", "設定", "守っている回答"]
    assert frame.iloc[1, 0] == "一人称" and frame.iloc[1, 2] == "わたくし" and frame.iloc[1, 3].endswith("%")
    edited = rules_frame(s, "en").copy()
    edited.iloc[5, 1] = False                        # 'ends its turn' switched off
    edited.iloc[2, 2] = "10-50"
    edited.iloc[3, 2] = "AIです, ロボット"
    table, status, s = on_rules(edited, s, "en")
    saved = load_persona(folder).rules
    assert saved.disabled == ["stops"] and (saved.min_chars, saved.max_chars) == (10, 50)
    assert saved.never_say == ["AIです", "ロボット"]
    assert "saved" in status.lower()
    bad = table.copy()
    bad.iloc[2, 2] = "ten to fifty"
    _, status, s = on_rules(bad, s, "ja")
    assert "長さの範囲" in status and load_persona(folder).rules == saved   # said, nothing changed
    table, _, s = on_reset(s, "en")
    assert load_persona(folder).rules is None and table.iloc[5, 1]


def test_no_persona_open_changes_nothing():
    assert rules_frame(None, "en").empty
    out = on_rules(pd.DataFrame([["x", True, "", ""]]), None, "en")
    assert out[2] is None
