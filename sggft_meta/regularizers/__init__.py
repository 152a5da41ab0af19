"""SGGFT regularizers (METHOD.md, "The inner loop"), one small registered class each.

A regularizer maps the flat task gradient `g` of one step and its references (`RegContext`) to a
scalar penalty; the inner loop differentiates it through `g` (`exact`, `hvp` modes). Its
first-order counterpart for the `surgery` mode acts on the update itself and lives next to it
(`surgery(u, ctx, strength)`). Group structure comes from the backbone through `ctx.layout`.

    from sggft_meta.regularizers import REGULARIZERS
    REGULARIZERS.names()  # ['align', 'direction', 'magnitude']
"""

from .base import REGULARIZERS, RegContext, Regularizer
from . import alignment, direction, magnitude  # noqa: F401,E402  (register on import)

__all__ = ["REGULARIZERS", "RegContext", "Regularizer"]
