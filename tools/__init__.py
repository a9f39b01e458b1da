"""Maintainers' scripts (not shipped): python -m tools.NAME."""
