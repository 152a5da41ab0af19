"""The registry of aligner types (`ALIGNERS`): `type_name` -> `Aligner` subclass.

Its own module so that the transfer format (`transfer.py`), which looks types up, and the
`Aligner` interface (`base.py`), whose `save_pretrained` / `from_pretrained` use the transfer
format, both import it without importing each other the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import Registry

if TYPE_CHECKING:
    from .base import Aligner

ALIGNERS: "Registry[type[Aligner]]" = Registry("aligner")
