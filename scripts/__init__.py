"""Tooling the Makefile runs (importable by the tests that check it)."""
