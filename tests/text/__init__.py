"""Prompt text: weighting syntax, weighted encoding, embedding files."""
