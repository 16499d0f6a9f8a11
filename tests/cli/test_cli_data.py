"""python -m studio validate / convert as a script would call them."""
import json
import subprocess
import sys

from tests.conftest import ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, cwd=ROOT)


def test_validate_json_and_exit_codes(tmp_path, sample_dir):
    ok = run("validate", "--data", str(sample_dir), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["rows"] >= 120
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nhi,\nq,a</s>\n", encoding="utf-8")
    res = run("validate", "--data", str(bad), "--json")
    assert res.returncode == 1
    findings = {f["code"]: f for f in json.loads(res.stdout)["findings"]}
    assert findings["EMPTY_ANSWER"]["rows"] == [1] and findings["SPECIAL_TOKEN_TEXT"]["rows"] == [2]
    assert set(findings["EMPTY_ANSWER"]) == {"code", "severity", "rows", "message", "fix"}


def test_convert_and_clear_errors(tmp_path, sample_dir):
    out = tmp_path / "x.jsonl"
    assert run("convert", "--data", str(sample_dir), "--out", str(out)).returncode == 0
    back = tmp_path / "y.csv"
    assert run("convert", "--data", str(out), "--out", str(back)).returncode == 0
    missing = run("validate", "--data", str(tmp_path / "nope.csv"))
    assert missing.returncode != 0 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
