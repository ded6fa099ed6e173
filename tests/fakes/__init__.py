"""Fake provider servers on loopback, driven through the real clients in tests."""
