"""Before a run starts: refuse bad settings, validation and Doctor errors, kernels and processes that cannot run here,
each with a message that says why (no model is loaded for this beyond the tokenizer)."""
from __future__ import annotations

from studio.core.errors import StudioError
from studio.data.conversations import conversations_from_persona
from studio.data.persona_store import load_persona
from studio.locale import Rows, T, Text
from studio.train.config import TrainConfig


def preflight(cfg: TrainConfig, check_doctor: bool = True) -> list[Text]:
    """Refuse bad settings, validation errors and Doctor errors before anything starts (unless overridden);
    returns the warnings worth showing."""
    from studio.core.findings import Finding
    from studio.data.validate import validate_persona
    persona = load_persona(cfg.data)
    n = len(conversations_from_persona(persona))
    cfg.validate(n)
    from studio.train.config import trackers
    trackers(cfg)   # a chosen tracker that is not installed is refused here, before anything starts
    check_fused_kernels(cfg)
    check_processes(cfg)
    findings: list[Finding] = list(validate_persona(persona))
    if check_doctor:
        from studio.core.models import load_tokenizer
        from studio.format.formatting import FormatSettings, render_persona
        tok = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
        res = render_persona(persona, tok, FormatSettings(cfg.template, cfg.max_length, cfg.train_on,
                                                          cfg.system_prompt), cfg.model)
        seen = {(f.code, tuple(f.rows)) for f in findings}   # an empty answer is both invalid and a Doctor finding
        findings += [f for f in res.findings if not (f.code == "TEMPLATE_TOKEN_SPLIT" and cfg.add_control_tokens)
                     and (f.code, tuple(f.rows)) not in seen]
    errors = [_short(f) for f in findings if f.severity == "error"]
    if errors and not cfg.allow_doctor_errors:
        raise StudioError("err.preflight_errors", count=len(errors), findings=tuple(errors[:3]))
    warnings = [_short(f) for f in findings if f.severity == "warning"]
    if errors:
        warnings.insert(0, T("train.overridden", count=len(errors), findings=tuple(errors[:3])))
    return warnings


def check_fused_kernels(cfg: TrainConfig) -> None:
    """Liger's kernels are Triton (CUDA only): refuse them up front where they cannot run, saying why."""
    if not cfg.use_liger:
        return
    import importlib.util
    if importlib.util.find_spec("liger_kernel") is None:
        raise StudioError("err.liger.missing")
    from studio.train.recipes import detect_device
    if detect_device() != "cuda":
        raise StudioError("err.liger.cpu")


def check_processes(cfg: TrainConfig) -> None:
    """Several processes or machines: refuse what cannot run here before anything starts (and the port early)."""
    from studio.train import distributed
    if not distributed.is_distributed(cfg):
        return
    distributed.check_here(cfg)
    distributed.rendezvous_port(cfg)


def _short(f) -> Text:
    """'CODE (rows): message', or 'CODE: message' for a finding about no row in particular, in the reader's
    language."""
    message = f.texts[0] if f.texts else T(f.message)
    if not f.rows:
        return T("finding.short_all", code=f.code, message=message)
    return T("finding.short", code=f.code, rows=Rows(f.rows), message=message)
