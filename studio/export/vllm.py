"""Files beside a merged model that vLLM needs to serve the character with its contract: the chat template as a
.jinja file, the stop ids in generation_config.json, and the exact command lines (generated, not run here)."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from studio.core.storage import atomic_write_text
from studio.format.contract import Contract
from studio.jobs.folders import Run

TEMPLATE_FILE, COMMANDS_FILE = "chat_template.jinja", "vllm-serve.txt"


def vllm_commands(run: Run, contract: Contract, port: int = 8000) -> str:
    name = run.id
    tpl = shlex.quote(str(run.merged / TEMPLATE_FILE))
    merged = shlex.quote(str(run.merged))
    base = shlex.quote(contract.base_model_path)
    return (f"# the merged character as one model\n"
            f"vllm serve {merged} --served-model-name {shlex.quote(name)} --chat-template {tpl} "
            f"--generation-config auto --port {port}\n"
            f"# several characters on one base: LoRA adapters (add one NAME=PATH per character)\n"
            f"vllm serve {base} --enable-lora --lora-modules {shlex.quote(name)}={shlex.quote(str(run.adapter))} "
            f"--chat-template {tpl} --port {port}\n")


def write_vllm_files(run: Run, contract: Contract, tokenizer) -> Path:
    """Write the template and stop ids beside the merged model and the commands into the run folder."""
    if tokenizer.chat_template:
        atomic_write_text(run.merged / TEMPLATE_FILE, tokenizer.chat_template, keep_backups=0)
    gen = run.merged / "generation_config.json"
    cfg = json.loads(gen.read_text(encoding="utf-8")) if gen.exists() else {}
    cfg["eos_token_id"] = list(contract.stop_token_ids) or cfg.get("eos_token_id")
    atomic_write_text(gen, json.dumps(cfg, indent=1), keep_backups=0)
    path = run.path / COMMANDS_FILE
    atomic_write_text(path, vllm_commands(run, contract), keep_backups=0)
    return path
