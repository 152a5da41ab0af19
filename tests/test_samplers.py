"""LM-BFF few-shot splits, N-way K-shot episodes, and the rule that the test split is never sampled."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from sggft_meta import DataError, RunConfig, Task
from sggft_meta.data.samplers import LM_BFF_SEEDS, EpisodeSampler, few_shot_split, stratify_labels
from sggft_meta.run import check_splits

SEEDS = (13, 21, 42, 87, 100)


def shuffled_labels(counts: list[int], seed: int = 0) -> np.ndarray:
    """int64 labels with counts[c] rows of class c, in a fixed shuffled order."""
    labels = np.concatenate([np.full(n, c, dtype=np.int64) for c, n in enumerate(counts)])
    return np.random.default_rng(seed).permutation(labels)


def suggested_k(message: str) -> int:
    found = re.search(r"use (?:--shots|k_shot) (\d+) or less", message)
    assert found, f"no suggested K in: {message}"
    return int(found.group(1))


def episode_key(ep) -> tuple:
    return (ep.classes, ep.support.tolist(), ep.query.tolist(), ep.support_labels.tolist(), ep.query_labels.tolist())


# ------------------------------------------------------------------ few_shot_split
def test_lm_bff_seeds_constant():
    assert LM_BFF_SEEDS == SEEDS
    assert RunConfig().seeds == list(SEEDS)


@pytest.mark.parametrize("k", [1, 4, 16])
@pytest.mark.parametrize("seed", SEEDS)
def test_few_shot_split_is_balanced_disjoint_and_valid(k, seed):
    labels = shuffled_labels([40, 55, 33])
    split = few_shot_split("toy", labels, k, seed, ("a", "b", "c"))
    assert split.task == "toy" and split.k == k and split.seed == seed
    assert len(split.train) == 3 * k and len(split.dev) == 3 * k
    for part in (split.train, split.dev):
        assert np.bincount(labels[part], minlength=3).tolist() == [k, k, k]
        assert len(set(part.tolist())) == len(part)  # no row twice
        assert part.min() >= 0 and part.max() < len(labels)
        assert np.issubdtype(part.dtype, np.integer)
        assert (np.diff(part) > 0).all()  # returned sorted
    assert not set(split.train.tolist()) & set(split.dev.tolist())


def test_few_shot_split_is_deterministic():
    labels = shuffled_labels([50, 50])
    a = few_shot_split("toy", labels, 8, 42)
    b = few_shot_split("toy", labels.copy(), 8, 42)
    assert a.train.tolist() == b.train.tolist()
    assert a.dev.tolist() == b.dev.tolist()


def test_few_shot_split_different_seeds_differ():
    labels = shuffled_labels([50, 50])
    a = few_shot_split("toy", labels, 8, 13)
    b = few_shot_split("toy", labels, 8, 21)
    assert a.train.tolist() != b.train.tolist()
    assert a.dev.tolist() != b.dev.tolist()


def test_five_lm_bff_seeds_give_five_distinct_splits():
    labels = shuffled_labels([200, 150, 120])
    splits = [few_shot_split("toy", labels, 16, seed) for seed in SEEDS]
    assert len({tuple(s.train.tolist()) for s in splits}) == 5
    assert len({tuple(s.dev.tolist()) for s in splits}) == 5


def test_few_shot_split_follows_lm_bff_recipe():
    """Shuffle with the seed, then the first K of each class train and the next K develop."""
    labels = shuffled_labels([30, 20])
    split = few_shot_split("toy", labels, 3, 87)
    order = np.random.default_rng(87).permutation(len(labels))
    expected_train = sorted(order[labels[order] == 0][:3].tolist() + order[labels[order] == 1][:3].tolist())
    expected_dev = sorted(order[labels[order] == 0][3:6].tolist() + order[labels[order] == 1][3:6].tolist())
    assert split.train.tolist() == expected_train
    assert split.dev.tolist() == expected_dev


def test_k_equal_to_half_the_smallest_class_uses_every_row():
    labels = shuffled_labels([6, 4])
    split = few_shot_split("toy", labels, 2, 13, ("neg", "pos"))
    used = set(split.train.tolist()) | set(split.dev.tolist())
    assert len(used) == 8  # class 'neg' keeps 2 rows unused
    assert set(np.flatnonzero(labels == 1).tolist()) <= used  # every 'pos' row is used


def test_k_too_large_names_class_and_suggests_largest_valid_k():
    labels = shuffled_labels([10, 5])
    with pytest.raises(DataError) as info:
        few_shot_split("toy", labels, 3, 13, ("neg", "pos"))
    msg = str(info.value)
    assert "K=3 is too large for task 'toy'" in msg
    assert "class 'pos' has 5 training examples" in msg
    assert "needs 6 per class" in msg
    k = suggested_k(msg)
    assert k == 2
    few_shot_split("toy", labels, k, 13, ("neg", "pos"))  # the suggestion works
    with pytest.raises(DataError):
        few_shot_split("toy", labels, k + 1, 13, ("neg", "pos"))


@pytest.mark.parametrize("counts, k", [([7, 20, 5], 4), ([33, 40], 17), ([100, 9, 100, 12], 16)])
def test_suggested_k_is_the_largest_that_works(counts, k):
    labels = shuffled_labels(counts)
    names = tuple(f"c{i}" for i in range(len(counts)))
    with pytest.raises(DataError) as info:
        few_shot_split("toy", labels, k, 21, names)
    msg = str(info.value)
    too_small = [names[c] for c, n in enumerate(counts) if n < 2 * k]
    assert any(f"class {name!r}" in msg for name in too_small)
    best = suggested_k(msg)
    assert best == min(counts) // 2
    split = few_shot_split("toy", labels, best, 21, names)
    assert len(split.train) == best * len(counts)
    with pytest.raises(DataError):
        few_shot_split("toy", labels, best + 1, 21, names)


@pytest.mark.parametrize("k", [0, -2])
def test_k_below_one(k):
    with pytest.raises(DataError, match="K must be at least 1"):
        few_shot_split("toy", shuffled_labels([10, 10]), k, 13)


def test_class_without_rows_is_reported():
    labels = np.array([0, 0, 0, 0, 2, 2, 2, 2], dtype=np.int64)  # class 1 absent
    with pytest.raises(DataError, match="class 'b' has 0 training examples"):
        few_shot_split("toy", labels, 1, 13, ("a", "b", "c"))


def test_regression_labels_are_stratified_at_the_median():
    labels = np.random.default_rng(3).permutation(np.arange(20, dtype=np.float32) / 4)  # 0.0 .. 4.75, median 2.375
    assert stratify_labels(labels).tolist() == (labels > 2.375).astype(int).tolist()
    split = few_shot_split("sts", labels, 4, 13)
    for part in (split.train, split.dev):
        values = labels[part]
        assert len(part) == 8
        assert int((values <= 2.375).sum()) == 4 and int((values > 2.375).sum()) == 4
    assert not set(split.train.tolist()) & set(split.dev.tolist())


def test_regression_ties_at_the_median_go_low():
    labels = np.array([1, 1, 2, 2, 2, 3, 3, 3, 4, 5], dtype=np.float32)  # median 2.5
    assert stratify_labels(labels).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    labels = np.array([1, 2, 2, 2, 3], dtype=np.float32)  # median 2: ties are in the low half
    assert stratify_labels(labels).tolist() == [0, 0, 0, 0, 1]


def test_regression_k_too_large_uses_high_low_names():
    labels = np.arange(10, dtype=np.float32)  # 5 low, 5 high
    with pytest.raises(DataError) as info:
        few_shot_split("sts", labels, 3, 13, ("low", "high"))
    assert "class 'low' has 5" in str(info.value)
    assert suggested_k(str(info.value)) == 2


# ------------------------------------------------------------------ EpisodeSampler
def test_episode_is_balanced_disjoint_and_relabelled():
    labels = shuffled_labels([30, 25, 40, 20])
    sampler = EpisodeSampler("toy", labels, k_shot=3, q_query=5, seed=1)
    for _ in range(10):
        ep = sampler.sample()
        assert ep.task == "toy"
        assert ep.classes == (0, 1, 2, 3)  # all classes, in class order
        assert ep.support_labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
        assert ep.query_labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
        assert ep.support_labels.dtype == torch.int64 and ep.query_labels.dtype == torch.int64
        assert len(ep.support) == 12 and len(ep.query) == 20
        assert len(set(ep.support.tolist())) == 12 and len(set(ep.query.tolist())) == 20
        assert not set(ep.support.tolist()) & set(ep.query.tolist())
        assert np.bincount(labels[ep.support], minlength=4).tolist() == [3, 3, 3, 3]
        assert np.bincount(labels[ep.query], minlength=4).tolist() == [5, 5, 5, 5]
        classes = np.array(ep.classes)
        assert (labels[ep.support] == classes[ep.support_labels.numpy()]).all()
        assert (labels[ep.query] == classes[ep.query_labels.numpy()]).all()


def test_n_way_below_class_count_samples_and_varies_classes():
    labels = shuffled_labels([20] * 6)
    sampler = EpisodeSampler("toy", labels, k_shot=2, q_query=3, n_way=3, seed=5)
    seen = set()
    for _ in range(30):
        ep = sampler.sample()
        assert len(ep.classes) == 3 and len(set(ep.classes)) == 3
        assert set(ep.classes) <= set(range(6))
        assert ep.support_labels.tolist() == [0, 0, 1, 1, 2, 2]
        assert ep.query_labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3
        classes = np.array(ep.classes)
        # the original label of every row is the class its remapped label points at
        assert (labels[ep.support] == classes[ep.support_labels.numpy()]).all()
        assert (labels[ep.query] == classes[ep.query_labels.numpy()]).all()
        assert not set(ep.support.tolist()) & set(ep.query.tolist())
        seen.add(ep.classes)
    assert len(seen) > 5  # the chosen classes (and their order) change across episodes
    assert set().union(*seen) == set(range(6))


def test_same_seed_same_episodes():
    labels = shuffled_labels([15, 15, 15])
    a = EpisodeSampler("toy", labels, k_shot=2, q_query=2, n_way=2, seed=11)
    b = EpisodeSampler("toy", labels, k_shot=2, q_query=2, n_way=2, seed=11)
    assert [episode_key(a.sample()) for _ in range(8)] == [episode_key(b.sample()) for _ in range(8)]


def test_explicit_generator_equals_seed():
    labels = shuffled_labels([15, 15, 15])
    g = torch.Generator()
    g.manual_seed(11)
    a = EpisodeSampler("toy", labels, k_shot=2, q_query=2, generator=g)
    b = EpisodeSampler("toy", labels, k_shot=2, q_query=2, seed=11)
    assert a.generator is g
    assert [episode_key(a.sample()) for _ in range(5)] == [episode_key(b.sample()) for _ in range(5)]


def test_sampler_does_not_use_global_rng():
    labels = shuffled_labels([15, 15, 15])
    torch.manual_seed(0)
    np.random.seed(0)
    first = [episode_key(EpisodeSampler("toy", labels, k_shot=2, q_query=2, seed=3).sample())]
    torch.manual_seed(999)
    np.random.seed(999)
    second = [episode_key(EpisodeSampler("toy", labels, k_shot=2, q_query=2, seed=3).sample())]
    assert first == second


def test_different_seeds_give_different_episodes():
    labels = shuffled_labels([15, 15, 15])
    a = EpisodeSampler("toy", labels, k_shot=2, q_query=2, seed=1)
    b = EpisodeSampler("toy", labels, k_shot=2, q_query=2, seed=2)
    assert [episode_key(a.sample()) for _ in range(3)] != [episode_key(b.sample()) for _ in range(3)]


def test_successive_episodes_differ():
    sampler = EpisodeSampler("toy", shuffled_labels([30, 30]), k_shot=4, q_query=4, seed=0)
    keys = [episode_key(sampler.sample()) for _ in range(5)]
    assert len(set(map(str, keys))) == 5


def test_state_dict_resumes_the_exact_sequence():
    labels = shuffled_labels([20, 20, 20, 20])
    sampler = EpisodeSampler("toy", labels, k_shot=2, q_query=3, n_way=2, seed=4)
    for _ in range(3):
        sampler.sample()
    state = sampler.state_dict()
    expected = [episode_key(sampler.sample()) for _ in range(4)]

    sampler.load_state_dict(state)
    assert [episode_key(sampler.sample()) for _ in range(4)] == expected

    # a fresh sampler with another seed continues the same way once it loads the state
    other = EpisodeSampler("toy", labels, k_shot=2, q_query=3, n_way=2, seed=999)
    other.load_state_dict(state)
    assert [episode_key(other.sample()) for _ in range(4)] == expected


def test_state_dict_is_a_snapshot():
    sampler = EpisodeSampler("toy", shuffled_labels([20, 20]), k_shot=2, q_query=2, seed=4)
    state = sampler.state_dict()
    saved = state["generator"].clone()
    sampler.sample()
    assert torch.equal(state["generator"], saved)  # sampling does not change a saved state


@pytest.mark.parametrize("n_way", [1, 0, 5, 9])
def test_bad_n_way(n_way):
    labels = shuffled_labels([10, 10, 10, 10])
    with pytest.raises(DataError) as info:
        EpisodeSampler("toy", labels, k_shot=1, q_query=1, n_way=n_way)
    msg = str(info.value)
    assert f"n_way={n_way}" in msg and "4 classes" in msg and "use 2..4" in msg


@pytest.mark.parametrize("k_shot, q_query", [(0, 1), (1, 0), (-1, 2)])
def test_episode_needs_positive_k_and_q(k_shot, q_query):
    with pytest.raises(DataError, match="k_shot >= 1 and q_query >= 1"):
        EpisodeSampler("toy", shuffled_labels([10, 10]), k_shot=k_shot, q_query=q_query)


def test_episode_k_shot_too_large():
    labels = shuffled_labels([20, 9, 20])
    with pytest.raises(DataError) as info:
        EpisodeSampler("toy", labels, k_shot=6, q_query=4, class_names=("a", "b", "c"))
    msg = str(info.value)
    assert "class 'b' has 9 training examples" in msg and "needs 10 per class" in msg
    EpisodeSampler("toy", labels, k_shot=5, q_query=4, class_names=("a", "b", "c"))  # 9 rows suffice


def test_episode_suggested_k_works():
    labels = shuffled_labels([10, 10])
    with pytest.raises(DataError) as info:
        EpisodeSampler("toy", labels, k_shot=8, q_query=4)
    k = suggested_k(str(info.value))  # the message says "use --shots 10 or less"; the largest valid is 6
    EpisodeSampler("toy", labels, k_shot=k, q_query=4)  # raises DataError: needs 14 per class


# ------------------------------------------------------------------ the test split is never sampled
def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def task_folder(tmp_path) -> Path:
    """train: 12 rows per class; test: 30 rows per class (more rows than train); distinct texts."""
    folder = tmp_path / "guarded"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", [{"text": f"train row {i}", "label": i % 2} for i in range(24)])
    write_jsonl(folder / "test.jsonl", [{"text": f"test row {i}", "label": i % 2} for i in range(60)])
    (folder / "meta.json").write_text(json.dumps({"label_names": ["neg", "pos"], "pair": False}), encoding="utf-8")
    return folder


def make_task(folder: Path, guard_test: bool) -> tuple[Task, list[str]]:
    """An unregistered folder-backed Task; with guard_test, reading the test split fails."""
    reads: list[str] = []

    class FolderBacked(Task):
        name = "guarded_task"
        label_names = ("neg", "pos")
        domain = "testing"

    FolderBacked.folder = folder

    class Guarded(FolderBacked):
        def load_split(self, split, data_dir=None):
            reads.append(split)
            if guard_test:
                assert split != "test", "the test split was read while drawing few-shot splits"
            return super().load_split(split, data_dir)

    return Guarded(), reads


def test_guard_really_guards(task_folder):
    task, _ = make_task(task_folder, guard_test=True)
    with pytest.raises(AssertionError, match="test split was read"):
        task.load_split("test")


def test_check_splits_never_reads_the_test_split(task_folder, monkeypatch):
    import sggft_meta.task as task_module

    files_read: list[str] = []
    real_read_split = task_module.read_split

    def spy(path, **kwargs):
        files_read.append(Path(path).name)
        return real_read_split(path, **kwargs)

    monkeypatch.setattr(task_module, "read_split", spy)
    task_module._read_cached.cache_clear()

    task, reads = make_task(task_folder, guard_test=True)
    cfg = RunConfig(task="guarded_task", shots=2, seeds=[13, 21])
    train, splits = check_splits(task, cfg)

    assert reads == ["train"]
    assert files_read == ["train.jsonl"]
    assert len(train) == 24 and train.origin.endswith("train.jsonl")
    assert [s.seed for s in splits] == [13, 21] and all(s.k == 2 for s in splits)
    for s in splits:
        assert np.bincount(train.labels[s.train], minlength=2).tolist() == [2, 2]
        assert np.bincount(train.labels[s.dev], minlength=2).tolist() == [2, 2]
        assert not set(s.train.tolist()) & set(s.dev.tolist())
    assert splits[0].train.tolist() != splits[1].train.tolist()


def test_sampled_rows_are_train_rows(task_folder):
    task, reads = make_task(task_folder, guard_test=False)
    train, splits = check_splits(task, RunConfig(task="guarded_task", shots=3, seeds=[13, 21, 42, 87, 100]))
    test = task.load_split("test")  # read here only to compare texts
    train_texts, test_texts = set(train.texts), set(test.texts)
    assert not train_texts & test_texts
    for s in splits:
        indices = np.concatenate([s.train, s.dev])
        assert indices.max() < len(train)  # test has more rows: a test index could exceed this
        sampled = {train.texts[i] for i in indices}
        assert len(sampled) == 12
        assert sampled <= train_texts
        assert not sampled & test_texts
        assert all(t.startswith("train row ") for t in sampled)
    # episodes are drawn from the train split as well
    sampler = EpisodeSampler(task.name, train.labels, k_shot=2, q_query=3, seed=0)
    ep = sampler.sample()
    assert {train.texts[i] for i in np.concatenate([ep.support, ep.query])} <= train_texts


def test_check_splits_bad_k_fails_before_anything_else(task_folder):
    task, reads = make_task(task_folder, guard_test=True)
    with pytest.raises(DataError) as info:
        check_splits(task, RunConfig(task="guarded_task", shots=7, seeds=[13]))
    assert "class 'neg' has 12 training examples" in str(info.value)
    assert suggested_k(str(info.value)) == 6
    assert reads == ["train"]
