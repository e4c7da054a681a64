"""Benchmarks with same-run baselines; run them with `scaf-al bench`."""
