"""python -m studio format / doctor against a tokenizer folder built in the test."""
import json

import pytest

from tests.conftest import cli
from tests.tiny_toks import chatml, sp


@pytest.fixture(scope="module")
def toks(tmp_path_factory):
    d = tmp_path_factory.mktemp("toks")
    chatml().save_pretrained(d / "chatml")
    sp().save_pretrained(d / "sp")
    return d


def run(*args):
    return cli(*args, env={"HF_HUB_OFFLINE": "1"})


def test_format_writes_ids_and_labels(toks, sample_dir, tmp_path):
    out = tmp_path / "f.jsonl"
    res = run("format", "--data", str(sample_dir), "--tokenizer", str(toks / "chatml"), "--template", "model",
              "--out", str(out))
    assert res.returncode == 0, res.stderr
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"row", "text", "input_ids", "labels"} and first["row"] == 1
    assert len(first["input_ids"]) == len(first["labels"]) and -100 in first["labels"]


def test_doctor_json_and_exit_code(toks, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nhi,ごきげんよう</s>\n", encoding="utf-8")
    res = run("doctor", "--data", str(bad), "--tokenizer", str(toks / "sp"), "--template", "llama2", "--json")
    assert res.returncode == 1
    codes = {f["code"]: f for f in json.loads(res.stdout)["findings"]}
    assert codes["EOS_SPLIT"]["rows"] == [1] and codes["EOS_SPLIT"]["severity"] == "error"
    ok = run("doctor", "--data", str(bad), "--tokenizer", str(toks / "sp"), "--template", "llama2",
             "--system", "x", "--max-length", "8")
    assert "TRUNCATED" in ok.stdout


@pytest.mark.parametrize("tokenizer,message", [
    ("/no/such/dir", "no such folder"),
    ("someone/some-model", "offline"),
])
def test_bad_tokenizer_sources(sample_dir, tokenizer, message):
    res = run("doctor", "--data", str(sample_dir), "--tokenizer", tokenizer, "--template", "llama2")
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_model_template_without_chat_template(toks, sample_dir):
    res = run("doctor", "--data", str(sample_dir), "--tokenizer", str(toks / "sp"), "--template", "model")
    assert res.returncode == 2 and "no chat template" in res.stderr
