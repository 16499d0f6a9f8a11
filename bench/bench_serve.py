"""Benchmark: the OpenAI-compatible server vs the Chat tab's engine on the same prompts (embedded default model,
greedy): time to first token and generated tokens per second, with 1 and 4 concurrent streaming clients.

    python -m bench.bench_serve [--new-tokens 48] [--model default]
"""
from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

PROMPTS = ["ごきげんよう。", "What is the capital of France?", "好きな食べ物は？", "Tell me about tea.",
           "今日の予定は？", "Hello, who are you?", "お気に入りの本は？", "What is 2 + 2?"]


def engine_run(engine, row_for, prompt: str, settings) -> tuple[float, int, float]:
    start = time.perf_counter()
    first = None
    for step in engine.stream([row_for(prompt)], settings):
        if first is None and isinstance(step[0], str) and step[0]:
            first = time.perf_counter() - start
    return first or 0.0, step[0].new_tokens, time.perf_counter() - start


def api_run(client, prompt: str, n: int) -> tuple[float, int, float]:
    start = time.perf_counter()
    first, tokens = None, 0
    stream = client.chat.completions.create(model="base", messages=[{"role": "user", "content": prompt}],
                                            max_tokens=n, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    for ev in stream:
        if ev.choices and ev.choices[0].delta.content:
            first = first or time.perf_counter() - start
        if ev.usage:
            tokens = ev.usage.completion_tokens
    return first or 0.0, tokens, time.perf_counter() - start


def report(name: str, results: list[tuple[float, int, float]], wall: float) -> None:
    ttft = statistics.median(r[0] for r in results)
    tokens = sum(r[1] for r in results)
    print(f"{name:28} ttft {ttft * 1000:7.0f} ms   {tokens / wall:6.1f} tok/s overall   ({len(results)} replies)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--new-tokens", type=int, default=48)
    args = ap.parse_args()
    import openai
    import uvicorn

    from studio.core.models import resolve
    from studio.serve.chat import GenSettings
    from studio.serve.models_served import ServedModels
    from studio.serve.openai_api import create_app

    models = ServedModels(resolve(args.model), [])
    served = models.resolve("base")
    engine = models.engine_for(served)
    settings = GenSettings(max_new_tokens=args.new_tokens)

    def row_for(p):
        return models.row(served, [], p, None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(models), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=600)
    engine_run(engine, row_for, PROMPTS[0], settings)  # warm up
    for concurrent in (1, 4):
        prompts = PROMPTS[:4] if concurrent == 1 else PROMPTS[:8]
        t = time.perf_counter()
        with ThreadPoolExecutor(concurrent) as pool:
            res = list(pool.map(lambda p: engine_run(engine, row_for, p, settings), prompts))
        report(f"engine, {concurrent} client(s)", res, time.perf_counter() - t)
        t = time.perf_counter()
        with ThreadPoolExecutor(concurrent) as pool:
            res = list(pool.map(lambda p: api_run(client, p, args.new_tokens), prompts))
        report(f"server, {concurrent} client(s)", res, time.perf_counter() - t)
    server.should_exit = True


if __name__ == "__main__":
    main()
