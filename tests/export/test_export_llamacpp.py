"""Issue 26, major 4: where llama.cpp is installed, the export also runs the file there (its own template, no system
message, as llama.cpp's server and LM Studio start a chat) and reports agreement with the studio honestly; where it
is not, the check says so and the export is still published. A file llama.cpp cannot read fails."""
import pytest

from studio.core.errors import Stopped
from studio.export import llamacpp_check as lc
from studio.export.export_run import export_run
from tests.conftest import finished_run

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return finished_run(tmp_path_factory.mktemp("export-llamacpp"), "chatml")


def test_without_llamacpp_the_check_says_not_checked_and_the_file_is_published(run, tmp_path, monkeypatch):
    monkeypatch.setattr(lc, "llamacpp_installed", lambda: False)
    report = export_run(run.path, "f16", out=tmp_path / "out")
    line = report.checks[-1]
    assert line.render("en").startswith("--  llama.cpp: not checked: llama-cpp-python is not installed")
    assert "未確認" in line.render("ja")
    assert report.gguf.is_file() and report.modelfile.is_file()


def test_a_file_llamacpp_cannot_read_fails_the_check(tmp_path):
    pytest.importorskip("llama_cpp")
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)   # a header and nothing after it
    check = lc.llamacpp_check(bad, {"こんにちは": ("ごきげんよう", True)}, 8)
    assert not check.ok and check.checked
    assert check.detail.render("en").startswith("llama.cpp cannot read the file")


def test_llamacpp_runs_the_export_with_its_own_template_and_agrees(run, tmp_path):
    pytest.importorskip("llama_cpp")
    report = export_run(run.path, "f16", out=tmp_path / "out")
    line = report.checks[-1].render("en")
    # measured on this tiny run: every greedy reply ends at once, in the studio and in llama.cpp alike
    assert line.startswith("ok  llama.cpp: with the file's own template and no system message, 3/3 greedy replies "
                           "are the same as the studio's and 3/3 ended their turn (the studio: 3/3)"), line


def test_stop_during_the_llamacpp_run_keeps_the_file_unverified(run, tmp_path):
    pytest.importorskip("llama_cpp")
    def stop_there(fraction, message):
        if message is not None and message.key == "export.v.llamacpp":
            raise Stopped
    with pytest.raises(Stopped):
        export_run(run.path, "f16", out=tmp_path / "out", progress=stop_there)
    assert (tmp_path / "out" / "new-persona-f16.unverified.gguf").is_file()
    assert not (tmp_path / "out" / "new-persona-f16.gguf").exists()
