"""The models an OpenAI-compatible server offers: `base`, each run's adapter (switched per request on one base in
memory, the Chat tab's engine) and each run's merged model (its own engine, loaded on first use)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

from studio.core.errors import StudioError
from studio.format.contract import Contract
from studio.jobs.folders import Run
from studio.serve.chat import ChatEngine, Row

BASE_NAME = "base"
MERGED_SUFFIX = ":merged"


@dataclass
class Served:
    engine_key: str          # which engine: the base path or a merged folder
    adapter: str | None      # adapter name in that engine, None = the engine's own model
    contract: Contract


class ServedModels:
    """Owned by one server process; engines are created lazily and kept."""

    def __init__(self, base_path: str, runs: list[Path]):
        self.base_path = base_path
        self.engines: dict[str, ChatEngine] = {}
        self.lock = threading.Lock()
        self.names: dict[str, tuple[str, Path | None]] = {BASE_NAME: ("base", None)}
        for run in map(Run, runs):
            if run.has_adapter():
                self.names[run.id] = ("adapter", run.adapter)
            if run.has_merged():
                self.names[run.id + MERGED_SUFFIX] = ("merged", run.merged)
            if not run.has_adapter() and not run.has_merged():
                raise StudioError("err.serve.no_adapter", run=run.id)

    @classmethod
    def open(cls, model: str | None, run_refs: list[str], runs_dir: Path | None) -> ServedModels:
        """The models to serve, all loaded: the base is `model`, else the first run's base, else 'default'."""
        from studio.core.models import resolve
        from studio.jobs.folders import resolve_run
        runs = [resolve_run(r, runs_dir) for r in run_refs]
        if not model and runs:
            first = runs[0]
            model = Contract.load(first.adapter if first.has_adapter() else first.merged).base_model_path
        served = cls(resolve(model or "default"), [r.path for r in runs])
        served.load_all()
        return served

    def _engine(self, key: str) -> ChatEngine:
        with self.lock:
            if key not in self.engines:
                self.engines[key] = ChatEngine(key)
            return self.engines[key]

    def load_all(self) -> None:
        """Load every adapter now, so the first request does not pay for it (and a bad one fails at start)."""
        for name in self.names:
            self.resolve(name)

    def resolve(self, name: str) -> Served:
        kind, path = self.names.get(name, (None, None))
        if kind is None:
            raise KeyError(name)
        if kind == "merged":
            engine = self._engine(str(path))
            return Served(str(path), None, engine.own_contract)
        engine = self._engine(self.base_path)
        if kind == "base":
            return Served(self.base_path, None, engine.own_contract)
        with self.lock:
            contract = engine.adapters.get(name) or engine.add_adapter(name, path)
        return Served(self.base_path, name, contract)

    def row(self, served: Served, history: list[tuple[str, str]], message: str, system: str | None) -> Row:
        """A client's own system message replaces the persona's; without one, the contract's system is used."""
        contract = served.contract
        if system is not None:
            contract = replace(contract, system_prompt=system, notes_in_prompt=False)
        return Row(served.adapter, contract, history, message)

    def engine_for(self, served: Served) -> ChatEngine:
        return self._engine(served.engine_key)
