"""Benchmarks of the engine: they print figures with their conditions, never pass/fail."""
