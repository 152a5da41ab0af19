"""Cross-task gradient alignment: aligners (learned, GradVac-style, none), their features,
source directions, and the transfer format (a directory: config.json + model.safetensors)."""

from .base import ALIGNERS, Aligner
from . import aligners  # noqa: F401,E402  (register on import)
from .transfer import load_aligner, read_aligner_config, save_aligner  # noqa: E402
from ..checkpoint import read_latest_checkpoint  # noqa: E402

__all__ = ["ALIGNERS", "Aligner", "load_aligner", "read_aligner_config", "read_latest_checkpoint", "save_aligner"]
