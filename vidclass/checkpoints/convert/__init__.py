"""Foreign checkpoints -> vidclass model files.

One pure state-dict mapping per source format (``huggingface``, ``scenic``, ``image_vit``),
each a small rename table; ``sources`` detects a source, converts it once and caches the result.
"""

from .common import ConversionError

__all__ = ["ConversionError"]
