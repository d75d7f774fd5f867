"""Evaluation, training and model resolution (being split into their own packages)."""
