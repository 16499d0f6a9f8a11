"""Atomic saves survive a SIGKILL between write and rename; concurrent editors are detected."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio.core.errors import ConflictError
from studio.core.storage import backups_of
from studio.data.persona import Persona, QAPair
from studio.data.persona_store import load_persona, load_persona_with_revision, save_persona

ROOT = Path(__file__).resolve().parents[2]


def test_kill_between_write_and_rename_keeps_old_file(tmp_path):
    folder = tmp_path / "p"
    save_persona(Persona(name="old", pairs=[QAPair("q", "old answer")]), folder)
    script = textwrap.dedent(f"""
        import os, signal, sys
        from studio.data.persona import Persona, QAPair
        from studio.data.persona_store import save_persona
        os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)   # die after writing, before renaming
        save_persona(Persona(name="new", pairs=[QAPair("q", "NEW answer")]), {str(folder)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=ROOT)
    assert proc.returncode == -9
    persona = load_persona(folder)
    assert persona.name == "old" and persona.pairs[0].answer == "old answer"


def test_two_editors_do_not_silently_overwrite(tmp_path):
    folder = tmp_path / "p"
    save_persona(Persona(pairs=[QAPair("q", "a")]), folder)
    mine, rev_mine = load_persona_with_revision(folder)
    theirs, rev_theirs = load_persona_with_revision(folder)
    theirs.pairs[0].answer = "theirs"
    save_persona(theirs, folder, expected_revision=rev_theirs)
    mine.pairs[0].answer = "mine"
    with pytest.raises(ConflictError, match="changed in another tab") as e:
        save_persona(mine, folder, expected_revision=rev_mine)
    assert load_persona(folder).pairs[0].answer == "theirs"
    kept = list((folder / "conflicts").glob("*/pairs.csv"))
    assert kept and "mine" in kept[0].read_text(encoding="utf-8")
    assert "conflicts" in str(e.value)


def test_rolling_backups(tmp_path):
    folder = tmp_path / "p"
    for i in range(25):
        save_persona(Persona(pairs=[QAPair("q", f"a{i}")]), folder)
    backups = backups_of(folder / "pairs.csv")
    # 24 saves replaced an older file; the newest KEEP_BACKUPS (20) of those older versions are kept, oldest first
    answers = [b.read_text(encoding="utf-8").splitlines()[1].split(",")[1] for b in backups]
    assert answers == [f"a{i}" for i in range(4, 24)]


def test_saved_files_are_not_private(tmp_path):
    save_persona(Persona(pairs=[QAPair("q", "a")]), tmp_path / "p")
    assert (tmp_path / "p" / "pairs.csv").stat().st_mode & 0o044


def test_full_disk_keeps_the_old_file_and_the_edit(tmp_path, monkeypatch):
    import errno
    import os

    from studio.data.persona_session import open_session, save

    folder = tmp_path / "p"
    save_persona(Persona(name="old", pairs=[QAPair("q", "old answer")]), folder)
    session = open_session(folder)
    session.persona.pairs[0].answer = "edited answer"

    def full(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)  # the write hits a full disk before the rename
    session = save(session)
    status = str(session.status)
    assert "Could not save (No space left on device)" in status and "still on this page" in status
    assert session.persona.pairs[0].answer == "edited answer"      # the edit is kept in the page
    assert load_persona(folder).pairs[0].answer == "old answer"    # the file on disk is the old one, whole
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # no temp file left to fill the disk
    monkeypatch.undo()
    session = save(session)  # space is back: the next edit saves
    assert str(session.status).startswith("Saved") and load_persona(folder).pairs[0].answer == "edited answer"


def test_saves_while_typing_keep_one_backup_a_minute_and_never_blank_a_field(tmp_path):
    from studio.data.persona_session import open_session, set_text_field, update_fields

    folder = tmp_path / "p"
    save_persona(Persona(name="綾乃", system_prompt="お嬢様", pairs=[QAPair("q", "a")]), folder)
    session = open_session(folder)
    for text in ["お", "お嬢", "お嬢様らしく", "お嬢様らしく答えて"]:  # each change of the field is saved
        session = set_text_field(session, "system_prompt", text)
        assert load_persona(folder).system_prompt == text
    assert len(backups_of(folder / "persona.yaml")) == 1  # the version before typing, not one per keystroke
    session = update_fields(session, None, None, None, None, None, None, None)  # widgets the page has not filled
    persona = load_persona(folder)
    assert persona.name == "綾乃" and persona.system_prompt == "お嬢様らしく答えて"
    unchanged = set_text_field(session, "name", "綾乃")
    assert unchanged.revision == session.revision


def test_kill_between_the_two_renames_never_leaves_the_files_one_version_apart(tmp_path):
    """persona.yaml and pairs.csv change together: killed after the commit marker and the first rename, the
    next open finishes the save (both new); killed before the marker is in place, both stay old."""
    folder = tmp_path / "p"
    save_persona(Persona(name="old", pairs=[QAPair("q", "old answer")]), folder)
    for kill_at, expect in ((2, "new"), (1, "new"), (0, "old")):  # replaces allowed before the kill
        script = textwrap.dedent(f"""
            import os, signal
            from studio.data.persona import Persona, QAPair
            from studio.data.persona_store import save_persona
            real, calls = os.replace, []
            def replace(a, b):
                calls.append(b)
                if len(calls) > {kill_at}:
                    os.kill(os.getpid(), signal.SIGKILL)
                real(a, b)
            os.replace = replace
            save_persona(Persona(name="new", pairs=[QAPair("q", "new answer")]), {str(folder)!r})
        """)
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=ROOT)
        assert proc.returncode == -9, proc.stderr.decode()
        persona, _ = load_persona_with_revision(folder)
        assert (persona.name, persona.pairs[0].answer) == (expect, f"{expect} answer"), kill_at
        assert not list(folder.glob(".*.new")) and not (folder / ".commit").exists()
        save_persona(Persona(name="old", pairs=[QAPair("q", "old answer")]), folder)


def test_refused_saves_in_one_second_keep_every_conflict_copy(tmp_path):
    folder = tmp_path / "p"
    rev = save_persona(Persona(name="a", pairs=[QAPair("q", "a")]), folder)
    save_persona(Persona(name="b", pairs=[QAPair("q", "b")]), folder)
    for i in range(3):
        with pytest.raises(ConflictError):
            save_persona(Persona(name=f"mine{i}", pairs=[QAPair("q", f"m{i}")]), folder, expected_revision=rev)
    copies = sorted((folder / "conflicts").iterdir())
    assert len(copies) == 3
    assert sorted(load_persona(c).name for c in copies) == ["mine0", "mine1", "mine2"]


def test_leftover_temp_files_are_cleaned_and_a_full_disk_leaves_no_truncated_backup(tmp_path, monkeypatch):
    import os
    import shutil
    folder = tmp_path / "p"
    save_persona(Persona(name="a", pairs=[QAPair("q", "a")]), folder)
    stale = folder / ".pairs.csv.abc.tmp"
    stale.write_text("half")
    os.utime(stale, (1, 1))
    fresh = folder / ".pairs.csv.def.tmp"
    fresh.write_text("being written")
    load_persona_with_revision(folder)
    assert not stale.exists() and fresh.exists()

    def full_disk_copy(src, dst, **kw):
        with open(dst, "wb") as f:
            f.write(b"trunc")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(shutil, "copy2", full_disk_copy)
    save_persona(Persona(name="smaller", pairs=[]), folder)
    assert load_persona(folder).name == "smaller"
    assert not any(b.read_bytes() == b"trunc" for b in (folder / ".backups").iterdir())
