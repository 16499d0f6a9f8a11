"""Benchmark: render + Doctor for the sample persona with each template (a tiny offline tokenizer per template).

    python -m bench.bench_render
"""
import time
from pathlib import Path

from studio import tiny
from studio.data.conversations import conversations_from_persona
from studio.data.persona_store import load_persona
from studio.format.formatting import FormatSettings, render_persona
from studio.format.render import render


def main() -> None:
    persona = load_persona(Path(__file__).resolve().parents[1] / "data" / "personas" / "ayano")
    convs = conversations_from_persona(persona)
    for template, tok in (("llama2", tiny.sentencepiece_style()), ("llama3", tiny.llama3_style()),
                          ("model", tiny.chatml_style())):
        best_render = best_doctor = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for c in convs:
                render(c, template, tok, 512)
            best_render = min(best_render, time.perf_counter() - t)
            t = time.perf_counter()
            render_persona(persona, tok, FormatSettings(template=template))
            best_doctor = min(best_doctor, time.perf_counter() - t)
        print(f"{template:7} {len(persona.pairs)} pairs / {len(convs)} examples: render {best_render * 1000:.0f} ms, "
              f"render + Doctor {best_doctor * 1000:.0f} ms")


if __name__ == "__main__":
    main()
