"""Where in a clip a model looked: per-step maps over the token grid (docs/explain-methods.md)."""

from .maps import Maps, explain_clip, methods_for, token_layers

__all__ = ["Maps", "explain_clip", "methods_for", "token_layers"]
