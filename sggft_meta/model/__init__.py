"""Backbones: loading, adaptable-parameter selection, functional forward."""
