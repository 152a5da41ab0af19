"""User-facing errors.

Every error a user can cause (bad task name, bad config, missing data, impossible K) is a
`SggftError`: the CLI prints its message on one line and exits with status 2, no traceback.
Each message names the problem and the fix.
"""

from __future__ import annotations


class SggftError(Exception):
    """Base class for errors caused by input; the message says what to change."""


class RegistryError(SggftError, KeyError):
    """Unknown or duplicate name in a registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(SggftError, ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


class DataError(SggftError, ValueError):
    """A data folder or file is missing or malformed, or a split cannot be sampled."""


class ModelError(SggftError, ValueError):
    """A backbone cannot be loaded or does not fit the task."""


class MissingPackageError(SggftError, ImportError):
    """An optional package that one method needs is not installed; the message gives the install command."""


class CheckpointError(SggftError, ValueError):
    """A saved aligner or training checkpoint is missing, corrupt, foreign or incompatible."""
