"""Benchmarks, run from the repository root as modules: python -m bench.bench_train (not part of the tests)."""
