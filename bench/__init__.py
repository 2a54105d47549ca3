"""Benchmarks of the collector; run ``python bench/collect_bench.py --help`` (see docs/benchmarks.md)."""
