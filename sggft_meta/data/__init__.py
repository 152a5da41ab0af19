"""Data: reading task files, per-class pools, episode samplers, tokenise-once caching."""
