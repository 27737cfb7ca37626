"""Benchmarks (not tests): they print figures. Their latest figures are in the README."""
