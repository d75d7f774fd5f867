"""Moved to ``vidclass.distributed`` (shared with training); this module re-exports it."""

from vidclass.distributed import Group, env_rank, launched

__all__ = ["Group", "env_rank", "launched"]
