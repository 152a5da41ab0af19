"""Baselines run on the same tasks, splits and backbone as the library's methods (SetFit, ...)."""
