"""Export a run (or a merged model) to GGUF + Ollama Modelfile: merge first if needed, refuse what is not
supported before any work, write under a temporary name, verify by reading back, and only then publish."""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.errors import Stopped, StudioError
from studio.core.storage import fresh_partial
from studio.format.contract import Contract
from studio.format.templates import get_template
from studio.jobs.folders import resolve_run

MODELFILE = "Modelfile"


@dataclass
class ExportReport:
    gguf: Path
    modelfile: Path | None
    size_mb: float
    seconds: float
    checks: list = field(default_factory=list)     # Text per check, in both languages
    warnings: list[str] = field(default_factory=list)

    def summary_text(self):
        from studio.locale import T
        checks = tuple(x for c in self.checks for x in (c, "·"))[:-1]  # rendered one after the other
        return T("export.summary", path=str(self.gguf), size=f"{self.size_mb:.1f}", checks=checks,
                 modelfile=str(self.modelfile or "-"))


def _quiet(fraction: float, message) -> None:
    """The default progress report: none."""


def _model_family(contract: Contract, tok) -> str | None:
    """Which template family renders like the contract (one with an Ollama template), or None (not supported)."""
    from studio.format.render import pieces_for
    from studio.format.templates import PROBE, get_template, recognise, text_of

    if get_template(contract.template).ollama:
        return contract.template
    try:
        text = text_of(pieces_for(PROBE, contract.template, tok, True), tok.bos_token or "", tok.eos_token or "")
    except Exception:  # noqa: BLE001 - a template that cannot render this matches no family
        return None
    family = recognise(text, tok.bos_token or "", tok.eos_token or "")
    return family if family and get_template(family).ollama else None


def model_name(persona_name: str, run_id: str) -> str:
    """A name Ollama accepts (lowercase ASCII letters, digits and dashes): '桜小路綾乃 (Sakurakoji Ayano)' ->
    'sakurakoji-ayano'; a name with no ASCII letters falls back to the run id."""
    for text in (persona_name, run_id):
        slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
        if re.search(r"[a-z]", slug):
            return slug
    return "character"


def export_run(ref: str | Path, quant: str = "q8_0", out: str | Path | None = None, runs_dir: Path | None = None,
               progress=_quiet) -> ExportReport:
    import time

    from transformers import AutoTokenizer

    from studio.data.conversations import conversations_from_persona
    from studio.data.persona_store import load_persona
    from studio.eval.prompts import read_prompts
    from studio.export.gguf_file import QUANTS, plan_gguf, write_gguf
    from studio.export.gguf_vocab import adds_bos
    from studio.export.modelfile import ModelfileSpec, modelfile_text, with_persona_default
    from studio.export.verify import verify_gguf
    from studio.jobs.runs import adapter_dir
    from studio.locale import T
    from studio.serve.merge import VERIFY_QUESTIONS, merge_adapter

    started = time.time()
    if quant not in QUANTS:
        raise StudioError("err.export.quant", quant=quant, quants=", ".join(QUANTS))
    run = resolve_run(ref, runs_dir)
    if not run.has_merged():
        src = adapter_dir(run.path, runs_dir)          # refuses a run still training or without an adapter
        contract = Contract.load(src)
        base = Path(contract.base_model_path)
        if contract.base_model_path and not base.exists() and (base.is_absolute() or "/" not in str(base)):
            raise StudioError("err.export.base_missing", base=contract.base_model_path)
        if base.is_dir():
            plan_gguf(base, quant)  # an unsupported architecture is refused before the merge, not after
        progress(0.02, T("export.p.merging"))
        merge_adapter(run.path, None, runs_dir, progress=lambda f, m: progress(0.02 + 0.3 * f, m))
    plan = plan_gguf(run.merged, quant)
    contract = Contract.load(run.merged)
    out_dir = Path(out) if out else run.export
    if out_dir.exists() and not out_dir.is_dir():
        raise StudioError("err.export.out_not_dir", out=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = model_name(contract.persona_name, run.id)
    target = out_dir / f"{name}-{quant}.gguf"
    free = shutil.disk_usage(out_dir).free
    if free < plan.estimated_bytes * 1.1:
        raise StudioError("err.export.disk", folder=out_dir, need=plan.estimated_bytes / 2**30, free=free / 2**30)
    tok = AutoTokenizer.from_pretrained(run.merged)
    partial = fresh_partial(target, folder=False)   # clears what a killed export left; nothing else
    legacy = target.with_name(target.name + ".partial")   # what earlier versions left after a kill
    if legacy.is_file() and not legacy.is_symlink():
        legacy.unlink()
    progress(0.35, T("export.p.writing", quant=quant))
    eot = contract.stop_token_ids[0] if contract.stop_token_ids else None
    written = False
    unverified = target.with_name(f"{target.stem}.unverified.gguf")   # what a Stop during verification keeps
    try:
        template = with_persona_default(tok.chat_template or "", tok, contract.system_for())
        warnings = write_gguf(plan, partial, template, contract.persona_name or run.id, eot,
                              progress=lambda f: progress(0.35 + 0.35 * f, T("export.p.writing", quant=quant)))
        written = True
        progress(0.72, T("export.p.verifying"))
        persona = load_persona(run.data) if run.data.is_dir() else None
        convs = conversations_from_persona(persona) if persona else []
        probe = run.data / "probe.txt"
        questions = [p.question for p in read_prompts(probe)][:8] if probe.is_file() else list(VERIFY_QUESTIONS)
        trained = run.adapter if (run.adapter / "tokenizer_config.json").exists() else None
        result = verify_gguf(partial, run.merged, quant, contract, convs, questions, trained,
                             progress=lambda f, m: progress(0.72 + 0.27 * f, m))
    except Stopped:
        if not written:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(unverified)
        raise Stopped(T("export.p.kept_unverified", path=str(unverified))) from None
    except OSError as e:
        partial.unlink(missing_ok=True)
        if e.errno == 28:
            raise StudioError("err.export.disk_full", folder=out_dir) from None
        raise
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if not result.ok:
        partial.unlink(missing_ok=True)
        bad = result.failed()[0]
        raise StudioError("err.export.verify", check=T(f"export.n.{bad.name}"), detail=bad.detail)
    partial.replace(target)
    unverified.unlink(missing_ok=True)   # a stopped export's, now superseded
    contract.save(out_dir)
    from studio.export.model_card import write_model_card
    write_model_card(run, out_dir, "export", contract)
    family = _model_family(contract, tok)
    modelfile = None
    if family:
        system = contract.system_for()
        if not system:   # the base's own default system text, as its family spells it (SmolLM2's ChatML does)
            system = get_template(family).default_system(
                tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False))
        stops = [s for s in tok.convert_ids_to_tokens(list(contract.stop_token_ids) or [tok.eos_token_id]) if s]
        spec = ModelfileSpec(target.name, family, adds_bos(tok), system, stops, min(contract.max_length * 4 or 2048,
                             plan.config.get("max_position_embeddings", 2048)),
                             f"Persona Studio: {contract.persona_name or run.id} ({run.id}), template "
                             f"{contract.template}, {quant}. ollama create {name} -f {MODELFILE}")
        modelfile = out_dir / MODELFILE
        modelfile.write_text(modelfile_text(spec), encoding="utf-8")
    else:
        warnings.append(f"no Modelfile: template {contract.template!r} is not llama2, llama3 or ChatML")
    from studio.export.vllm import write_vllm_files
    write_vllm_files(run, contract, tok)
    progress(1.0, T("export.p.done"))
    return ExportReport(target, modelfile, target.stat().st_size / 2**20, time.time() - started,
                        result.lines(), warnings)
