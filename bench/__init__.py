"""wangge benchmarks (results in BENCHMARKS.md at the repository root)."""
