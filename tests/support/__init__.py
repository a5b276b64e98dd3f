"""Fixtures and helpers shared by the tests (never imported by the product)."""
