"""Helpers shared by the test suite (test data converters, database probes)."""
