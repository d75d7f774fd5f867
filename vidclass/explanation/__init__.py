"""Where in a clip a model looked: ``explain`` (the library mirror of ``vidclass explain``),
its ``Explanation``, and the maps underneath (docs/explain-methods.md)."""

from .maps import Maps, explain_clip, methods_for, token_layers
from .result import Explanation
from .run import ExplainInputError, explain, explain_with, resolve_method

__all__ = [
    "ExplainInputError",
    "Explanation",
    "Maps",
    "explain",
    "explain_clip",
    "explain_with",
    "methods_for",
    "resolve_method",
    "token_layers",
]
