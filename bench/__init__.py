"""Benchmark scripts: each prints a table (run them as python bench/NAME.py)."""
