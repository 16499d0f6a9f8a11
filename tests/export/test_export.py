"""GGUF export of a small trained run: written with gguf, read back with transformers, verified (metadata, template,
tokenization, logits, stops) before it is published; refused with a message for bad requests; Modelfile pinned."""
import json

import pytest

from studio.core.errors import StudioError
from studio.export.export_run import export_run
from studio.export.modelfile import ModelfileSpec, modelfile_text, ollama_template
from studio.export.verify import gguf_fields
from studio.jobs.status import write_status
from tests.conftest import finished_run, passed


@pytest.fixture(scope="module")
def chatml_run(tmp_path_factory):
    return finished_run(tmp_path_factory.mktemp("export"), "chatml")


@pytest.mark.slow
@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_export_reads_back_and_passes_every_check(chatml_run, quant, tmp_path):
    report = export_run(chatml_run.path, quant, out=tmp_path / quant)
    assert report.gguf == tmp_path / quant / f"new-persona-{quant}.gguf" and report.gguf.is_file()
    checks = [c.render("en") for c in report.checks]
    assert [c.split(":")[0] for c in checks][:5] == ["ok  metadata", "ok  template", "ok  tokenization",
                                                            "ok  logits", "ok  stops"]
    assert checks[5].split(":")[0] in ("ok  llama.cpp", "--  llama.cpp")   # run where llama.cpp is installed
    assert not list((tmp_path / quant).glob("*.partial"))
    fields = gguf_fields(report.gguf)
    merged_template = (chatml_run.merged / "chat_template.jinja").read_text(encoding="utf-8")
    assert fields["tokenizer.chat_template"] == merged_template
    assert fields["general.architecture"] == "llama" and fields["tokenizer.ggml.model"] == "gpt2"
    contract = json.loads((tmp_path / quant / "contract.json").read_text(encoding="utf-8"))
    assert fields["tokenizer.ggml.eot_token_id"] == contract["stop_token_ids"][0]
    text = report.modelfile.read_text(encoding="utf-8")
    assert f"FROM ./new-persona-{quant}.gguf\n" in text and 'PARAMETER stop "<|im_end|>"' in text
    assert 'SYSTEM """お嬢様"""' in text and ollama_template("chatml", False) in text
    assert "stops: greedy replies ending on the end-of-turn id: 3/3" in checks[4]
    assert "学習時とまったく同じ" in report.summary_text().render("ja")
    assert "vllm serve" in (chatml_run.path / "vllm-serve.txt").read_text(encoding="utf-8")


@pytest.mark.slow
def test_llama2_sentencepiece_run_exports_with_scores_and_byte_tokens(tmp_path):
    run = finished_run(tmp_path, "sentencepiece", template="llama2")
    report = export_run(run.path, "q4_0", runs_dir=tmp_path / "runs")
    assert all(passed(c.render("en")) for c in report.checks), report.checks
    fields = gguf_fields(report.gguf)
    assert fields["tokenizer.ggml.model"] == "llama" and fields["tokenizer.ggml.eos_token_id"] == 2
    assert ollama_template("llama2") in report.modelfile.read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_corrupted_template_is_refused_and_nothing_is_published(chatml_run, tmp_path):
    export_run(chatml_run.path, "f16", out=tmp_path / "first")  # merges the run
    jinja = chatml_run.merged / "chat_template.jinja"
    good = jinja.read_text(encoding="utf-8")
    try:
        jinja.write_text(good.replace("+ '<|im_end|>'", ""), encoding="utf-8")  # replies no longer end
        assert jinja.read_text(encoding="utf-8") != good
        with pytest.raises(StudioError) as e:
            export_run(chatml_run.path, "f16", out=tmp_path / "broken")
        assert "template check" in str(e.value) and "deleted" in str(e.value)
        assert "テンプレート" in e.value.render("ja") or "template" in e.value.render("ja")
        assert not list((tmp_path / "broken").glob("*.gguf*"))
    finally:
        jinja.write_text(good, encoding="utf-8")


@pytest.mark.slow
def test_bad_requests_get_plain_messages(chatml_run, tmp_path):
    with pytest.raises(StudioError, match="Choose one of: f16, bf16, q8_0, q4_0"):
        export_run(chatml_run.path, "q3_k", out=tmp_path / "x")
    with pytest.raises(StudioError, match="No run or model folder"):
        export_run(tmp_path / "nowhere", "f16")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StudioError, match="is a file"):
        export_run(chatml_run.path, "f16", out=tmp_path / "file")
    import os

    from studio.jobs.status import pid_fields
    training = tmp_path / "runs" / "20260101-000001-busy"
    training.mkdir(parents=True)
    write_status(training, state="running", step=1, total=5, **pid_fields(os.getpid()))
    with pytest.raises(StudioError, match="is running and has no finished adapter"):
        export_run(training, "f16", runs_dir=tmp_path / "runs")
    write_status(training, state="failed", step=1, total=5)
    with pytest.raises(StudioError, match="is failed and has no finished adapter"):
        export_run(training, "f16", runs_dir=tmp_path / "runs")
    cfg = json.loads((chatml_run.merged / "config.json").read_text())
    other = tmp_path / "gpt2"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({**cfg, "architectures": ["GPT2LMHeadModel"]}))
    from studio.export.gguf_file import plan_gguf
    with pytest.raises(StudioError, match="GPT2LMHeadModel, which is not supported yet"):
        plan_gguf(other, "f16")


@pytest.mark.slow
def test_missing_base_model_is_named_before_any_work(tmp_path):
    run = finished_run(tmp_path, "chatml")
    import shutil
    shutil.rmtree(tmp_path / "base-chatml")
    with pytest.raises(StudioError, match="base model .* is missing"):
        export_run(run.path, "f16", runs_dir=tmp_path / "runs")
    assert not run.merged.exists()


# Ollama TEMPLATEs, pinned: each renders what the studio's template renders in training (BOS from add_bos).
LLAMA3 = """{{- if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>
{{- end }}
{{- range .Messages }}{{ if ne .Role "system" }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>{{ end }}
{{- end }}<|start_header_id|>assistant<|end_header_id|>

"""
LLAMA2 = """{{- $first := true }}
{{- range .Messages }}
{{- if eq .Role "user" }}{{ if not $first }}<s>{{ end }}[INST] {{ if and $first $.System }}<<SYS>>
{{ $.System }}
<</SYS>>

{{ end }}{{ .Content }} [/INST]{{ $first = false }}
{{- else if eq .Role "assistant" }} {{ .Content }} </s>
{{- end }}
{{- end }}"""
CHATML = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range .Messages }}{{ if ne .Role "system" }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}
{{- end }}<|im_start|>assistant
"""


def test_model_names_are_ones_ollama_accepts():
    from studio.export.export_run import model_name
    assert model_name("桜小路綾乃 (Sakurakoji Ayano)", "r") == "sakurakoji-ayano"
    assert model_name("綾乃", "20260101-000000-ayano") == "20260101-000000-ayano"
    assert model_name("綾乃", "20260101") == "character"


def test_modelfile_templates_are_pinned():
    assert ollama_template("llama3") == LLAMA3
    assert ollama_template("llama3", add_bos=False) == "<|begin_of_text|>" + LLAMA3
    assert ollama_template("llama2") == LLAMA2
    assert ollama_template("chatml") == ollama_template("chatml", add_bos=False) == CHATML
    text = modelfile_text(ModelfileSpec("a.gguf", "llama3", True, 'わたくし """ですわ', ["<|eot_id|>", "<|eot_id|>",
                                        "<|end_of_text|>"], 2048))
    assert text == ('FROM ./a.gguf\nTEMPLATE """' + LLAMA3 + '"""\nSYSTEM """わたくし \u201d\u201d\u201dですわ"""\n'
                    'PARAMETER stop "<|eot_id|>"\nPARAMETER stop "<|end_of_text|>"\nPARAMETER temperature 0.7\n'
                    'PARAMETER top_p 0.9\nPARAMETER repeat_penalty 1.1\nPARAMETER num_ctx 2048\n')
