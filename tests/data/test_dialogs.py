"""Probe dialogue files: the shipped set, and hostile files refused with the dialogue and turn named."""
import pytest

from studio.core.errors import StudioError
from studio.data.dialogs import MAX_TURN_CHARS, PRESSURES, SHIPPED_DIALOGS, dialogs_for, read_dialogs


def test_the_shipped_set_is_ten_dialogues_of_ten_turns_with_pressure():
    dialogs = read_dialogs(SHIPPED_DIALOGS)
    assert len(dialogs) >= 10 and all(len(d.turns) >= 10 for d in dialogs)
    kinds = {t.pressure for d in dialogs for t in d.turns} - {""}
    assert kinds == set(PRESSURES)
    assert any(t.text.isascii() for d in dialogs for t in d.turns)   # English turns too


@pytest.mark.parametrize("text,named", [
    ("- id: a\n  turns: [hi, {text: x, pressure: shouting}]\n", "a, turn 2"),
    ("- id: a\n  turns: [hi, 5]\n", "a, turn 2"),
    ("- id: a\n  turns: [hi, [nested]]\n", "a, turn 2"),
    ("- id: a\n  turns: []\n", "a"),
    ("- id: a\n  turns: [x]\n- id: a\n  turns: [y]\n", "id"),
    ("{id: a}\n", "list"),
    ("- id: a\n  turns: [x\n", "YAML"),
    ("- &a {id: a, turns: [x]}\n- *a\n", "YAML"),
])
def test_bad_files_name_the_dialogue_and_turn(tmp_path, text, named):
    path = tmp_path / "d.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StudioError) as e:
        read_dialogs(path)
    assert named in e.value.render("en") and e.value.render("ja")


def test_huge_turns_and_too_many_turns_are_refused(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("- id: long\n  turns: [" + ", ".join(["hi"] * 10_000) + "]\n", encoding="utf-8")
    with pytest.raises(StudioError, match="10000 turns"):
        read_dialogs(path)
    path.write_text("- id: big\n  turns: [ok, '" + "あ" * 1_000_000 + "']\n", encoding="utf-8")
    with pytest.raises(StudioError) as e:
        read_dialogs(path)
    assert "1.0 MB" in e.value.render("en") or "MB" in e.value.render("en")
    path.write_text("- id: big\n  turns: [ok, '" + "あ" * (MAX_TURN_CHARS + 1) + "']\n", encoding="utf-8")
    with pytest.raises(StudioError, match="big, turn 2"):
        read_dialogs(path)


def test_a_personas_own_dialogues_come_first(tmp_path):
    assert dialogs_for(tmp_path) == SHIPPED_DIALOGS and dialogs_for(None) == SHIPPED_DIALOGS
    (tmp_path / "probe_dialogs.yaml").write_text("- id: own\n  turns: [hi]\n", encoding="utf-8")
    assert read_dialogs(dialogs_for(tmp_path))[0].id == "own"


def test_the_shipped_pressure_dialogues_import_as_dialogues_that_keep_the_sample_rules():
    """data/examples/ayano_pressure_dialogs.csv (the README's multi-turn training figures): ten conversations
    whose pushes are answered in character, each answer keeping the sample persona's rules."""
    from pathlib import Path

    from studio.data.conversations import group_dialogs
    from studio.data.importers import import_file
    from studio.data.persona_store import load_persona
    from studio.data.rules import check
    root = Path(__file__).resolve().parents[2]
    rows = import_file(root / "data" / "examples" / "ayano_pressure_dialogs.csv").pairs
    groups = [g for g in group_dialogs(rows) if len(g) > 1]
    assert len(rows) == 33 and len(groups) == 10 and all(len(g) >= 3 for g in groups)
    rules = load_persona(root / "data" / "personas" / "ayano").rules_of()
    assert all(all(check(p.answer, True, rules).values()) for p in rows)
