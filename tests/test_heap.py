"""Freed heap goes back to the OS: `release_freed_memory` (glibc malloc_trim), called by the bench
harness before every cell and after every meta-training."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

from sggft_bench import heap
from sggft_bench import parse_grid, run_grid
from sggft_bench.runner import _Memory

from test_bench_meta import grid_tree, maml_method


def test_release_gives_freed_heap_back_to_the_os():
    if heap._malloc_trim() is None:
        pytest.skip("no glibc malloc_trim on this platform")
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size, n = 4000, 50_000  # 200 MB in small chunks: heap, not mmap
    chunks = [libc.malloc(size) for _ in range(n)]
    for p in chunks:
        ctypes.memset(p, 1, size)  # resident
    for p in chunks[:-1]:  # the last one stays, so the allocator cannot shrink the heap's top by itself
        libc.free(p)
    held = _Memory._status_kib("VmRSS")
    assert heap.release_freed_memory() is True
    after = _Memory._status_kib("VmRSS")
    libc.free(chunks[-1])
    assert held - after > 100_000, f"resident {held} kB before the trim, {after} kB after"


def test_off_glibc_only_the_garbage_is_collected(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert heap.release_freed_memory() is False


def test_bench_releases_memory_before_each_cell_and_after_a_meta_training(tiny_bert_dir, tmp_path, monkeypatch):
    from sggft_meta.baselines.meta_init import MetaInitLearner
    from sggft_bench import meta_methods, runner

    events = []
    real_train = MetaInitLearner.train

    def train(self, *a, **kw):
        events.append("meta-train")
        return real_train(self, *a, **kw)

    monkeypatch.setattr(MetaInitLearner, "train", train)
    monkeypatch.setattr(runner, "release_freed_memory", lambda: events.append("release before cell"))
    monkeypatch.setattr(meta_methods, "release_freed_memory", lambda: events.append("release after meta-training"))
    tree = grid_tree(tiny_bert_dir, maml_method(outer_steps=1), tasks=("demo_product_reviews",))
    run = run_grid(parse_grid(tree), tmp_path / "out", log=lambda line: None)
    assert run.ok and run.ran == 2
    assert events == ["release before cell", "meta-train", "release after meta-training", "release before cell"]
