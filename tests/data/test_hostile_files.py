"""Hostile input through the CLI and the library: damaged run folders, decompression bombs, huge cells, invalid
bytes, deep nesting, wrong JSON shapes, odd paths. Each ends in a plain message (no traceback), bounded memory,
and the previous data intact."""
import json
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest

from studio.core.errors import StudioError
from studio.data.csv_cells import MAX_CELL_CHARS
from studio.data.importers import import_file
from studio.data.persona import Persona, QAPair
from studio.data.persona_store import load_persona, save_persona

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, home=None):
    import os
    env = {**os.environ, **({"STUDIO_HOME": str(home)} if home else {})}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def plain_failure(res, *words):
    assert res.returncode != 0, res.stdout
    assert "Traceback" not in res.stderr and res.stderr.startswith("error: "), res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


# 1. damaged run state ------------------------------------------------------------------------------------------
def test_damaged_run_folders_are_listed_not_raised(tmp_path):
    runs = tmp_path / "runs"
    for name, status in (("a-list", "[1, 2]"), ("b-types", '{"state": "running", "pid": "x", "step": "7"}'),
                         ("c-garbage", "{not json"), ("d-ok", '{"state": "finished", "step": 3, "total": 3}')):
        (runs / name).mkdir(parents=True)
        (runs / name / "status.json").write_text(status)
    (runs / "d-ok" / "metrics.jsonl").write_text('[1]\n"s"\n{"step": "x", "loss": 1}\n{"step": 2, "loss": 0.5}\n')
    res = cli("runs", "--runs-dir", str(runs))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "a-list  unknown" in res.stdout and "b-types  unknown" in res.stdout and "d-ok  finished" in res.stdout
    from studio.jobs.runs import read_metrics
    from studio.train.views import history_frame, loss_frame, progress_text
    assert read_metrics(runs / "d-ok") == [{"step": 2, "loss": 0.5}]
    assert list(loss_frame([runs / "d-ok"])["step"]) == [2]
    assert len(history_frame(runs, "en")) == 4
    for name in ("a-list", "b-types", "c-garbage"):
        assert progress_text(runs / name, "ja")[0]


# 2. decompression bombs ----------------------------------------------------------------------------------------
def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for ctype, data in chunks + [(b"IEND", b"")]:
        out += struct.pack(">I4s", len(data), ctype) + data + struct.pack(">I", zlib.crc32(ctype + data))
    return out


def _bomb(mib: int) -> bytes:
    z = zlib.compressobj(9)
    block = b"A" * 2**20
    return b"".join(z.compress(block) for _ in range(mib)) + z.flush()


@pytest.mark.parametrize("key", ["chara", "comment"])
def test_a_card_png_that_inflates_to_gigabytes_is_refused_quickly(tmp_path, key):
    bomb = _bomb(256)
    path = tmp_path / "bomb.png"
    path.write_bytes(_png([(b"zTXt", key.encode() + b"\0\0" + bomb)]))
    tracemalloc.start()
    with pytest.raises(StudioError) as e:
        import_file(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 80 * 2**20, peak  # never the inflated text (256 MiB here, 1 GiB in the report)
    assert ("20 MB" in str(e.value)) if key == "chara" else "holds no character card" in str(e.value)


# 3. saved but unreadable ---------------------------------------------------------------------------------------
def test_a_cell_over_the_limit_is_refused_naming_the_row_and_one_at_the_limit_round_trips(tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("question,answer\nq1,ok\nq2," + "あ" * (MAX_CELL_CHARS + 1) + "\n", encoding="utf-8")
    with pytest.raises(StudioError, match="row 2: the answer cell has 100,001 characters"):
        import_file(big)
    edge = tmp_path / "edge.csv"
    edge.write_text("question,answer\nq," + "あ" * MAX_CELL_CHARS + "\n", encoding="utf-8")
    save_persona(Persona(pairs=import_file(edge).pairs), tmp_path / "p")
    assert len(load_persona(tmp_path / "p").pairs[0].answer) == MAX_CELL_CHARS
    res = cli("validate", "--data", str(tmp_path / "p"))
    assert "Traceback" not in res.stderr


# 4. silent mojibake --------------------------------------------------------------------------------------------
def test_utf8_with_one_bad_byte_is_refused_and_cp932_is_reported(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes("question,answer\nごきげんよう,ですわ\n".encode().replace("わ".encode(), b"\xff\xfe"))
    plain_failure(cli("validate", "--data", str(bad)), "invalid byte", "line 2")
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes("question,answer\nごきげんよう,ですわ\n".encode("cp932"))
    res = cli("validate", "--data", str(sjis))
    assert res.returncode == 0 and "read as CP932" in res.stderr, res.stderr
    folder = tmp_path / "p"
    save_persona(Persona(pairs=[QAPair("q", "a")]), folder)
    (folder / "pairs.csv").write_bytes(sjis.read_bytes())
    from studio.data.persona_session import open_session
    assert "CP932" in open_session(folder).status.render("en")


# 5. tracebacks instead of sentences ----------------------------------------------------------------------------
def test_odd_inputs_end_in_one_sentence(tmp_path):
    sample = ROOT / "data" / "personas" / "ayano"
    plain_failure(cli("convert", "--data", str(sample), "--out", str(tmp_path)), "already exists")
    (tmp_path / "file").write_text("x")
    plain_failure(cli("convert", "--data", str(sample), "--out", str(tmp_path / "file" / "x.csv")))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    plain_failure(cli("validate", "--data", str(deep)))
    nested = tmp_path / "nested.jsonl"
    nested.write_text(json.dumps({"messages": [{"role": "user", "content": {"a": 1}},
                                               {"role": "assistant", "content": [1, None]}]}) + "\n")
    res = cli("validate", "--data", str(nested))
    assert "Traceback" not in res.stderr, res.stderr
    log = tmp_path / "home" / "logs" / "errors.log"
    res = cli("convert", "--data", str(sample), "--out", str(tmp_path / "file" / "y.csv"), home=tmp_path / "home")
    plain_failure(res, str(log))
    assert "Traceback" in log.read_text()


# 6. writes outside their place ---------------------------------------------------------------------------------
def test_existing_outputs_need_force_and_opening_a_missing_persona_creates_nothing(tmp_path):
    sample = ROOT / "data" / "personas" / "ayano"
    out = tmp_path / "a.csv"
    out.write_text("precious")
    plain_failure(cli("convert", "--data", str(sample), "--out", str(out)), "--force")
    assert out.read_text() == "precious"
    assert cli("convert", "--data", str(sample), "--out", str(out), "--force").returncode == 0
    from studio.data.persona_session import open_session
    with pytest.raises(StudioError):
        open_session(tmp_path / "nope")
    assert not (tmp_path / "nope").exists()
    from studio.data.library import safe_folder_name
    assert len(safe_folder_name("🎀" * 300).encode()) <= 200


def test_a_damaged_card_chunk_is_named_not_a_type_error(tmp_path):
    path = tmp_path / "card.png"
    path.write_bytes(_png([(b"tEXt", b"chara\0not base64 json!")]))
    with pytest.raises(StudioError, match="'chara' card data is damaged"):
        import_file(path)


def test_a_row_number_cell_of_inf_or_nan_is_no_row_number():
    from studio.data.table_view import _row_number
    assert [_row_number(v) for v in ("inf", "-inf", "nan", float("inf"), "1e400", "3", 4.0, "2.5", None)] == \
        [None, None, None, None, None, 3, 4, None, None]


def test_a_read_only_persona_opens_for_reading_and_a_save_says_why_not(tmp_path):
    import os
    import stat

    from studio.data.persona_session import open_session, save
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    folder = tmp_path / "p"
    save_persona(Persona(pairs=[QAPair("q", "a")]), folder)
    (folder / ".lock").unlink()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        session = open_session(folder)
        assert "read-only" in session.status.render("en") and session.persona.pairs[0].answer == "a"
        session.persona.pairs[0].answer = "b"
        assert "Traceback" not in str(save(session).status)
    finally:
        folder.chmod(stat.S_IRWXU)


def test_the_suite_leaves_the_users_workspace_alone(tmp_path):
    """Issue 26: a failing CLI call in a test appended its traceback to the checkout's workspace/logs/errors.log."""
    from studio.core.crash import log_path
    from studio.core.workspace import home, runs_dir
    for folder in (home(), runs_dir(), log_path()):
        assert not folder.is_relative_to(ROOT), folder
    (tmp_path / "file").write_text("x")
    res = cli("convert", "--data", str(ROOT / "data" / "personas" / "ayano"), "--out", str(tmp_path / "file" / "y.csv"))
    assert res.returncode != 0 and "errors.log" in res.stderr and str(home()) in res.stderr
    assert not (ROOT / "workspace" / "logs" / "errors.log").exists() or \
        str(tmp_path) not in (ROOT / "workspace" / "logs" / "errors.log").read_text(encoding="utf-8")
