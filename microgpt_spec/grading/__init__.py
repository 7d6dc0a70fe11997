"""Grading (being written)."""
