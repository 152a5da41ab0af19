"""The version of sggft-meta (a leaf module: the formats record it without importing the package)."""

__version__ = "0.1.0"
