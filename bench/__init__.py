"""Benchmarks (not tests): they print figures. See docs/notices-and-sending.md."""
