"""Give memory the process has freed back to the operating system.

After a meta-training (second-order MAML through AdamW steps on SmolLM2-135M) the glibc
allocator keeps the freed heap for reuse: a process that went on to its fine-tuning cells held
9.1-9.9 GB resident against 1.7-2.0 GB in one that had not meta-trained (docs/results.md 4c), and
`gc.collect()` alone gives none of it back. `malloc_trim(0)` does: in a 2-step MAML meta-training
on SmolLM2 the resident set went from 4.4 GB after training to 1.0 GB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's malloc_trim, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Collect garbage, then return the allocator's free pages to the OS (glibc `malloc_trim(0)`).
    Returns whether the trim ran (False off glibc: there only the garbage is collected)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
