"""Meta-learned initialisations (MAML, first-order MAML, Reptile), on a tiny BERT:

- the project's functional MAML meta-gradient equals learn2learn's MAML (second and first order);
- Reptile's update on hand-made numbers, and its episode delta by hand (one SGD step);
- a few outer steps of each algorithm move phi_0 (MAML and Reptile lower the query loss), and
  the saved initialisation loads back bitwise;
- a killed run resumes to the same phi_0; 2 ranks (torchrun-style all-reduce) equal 1;
- bad initialisation directories fail with one clear error;
- episodes run in eval mode, and the backbone's modes are given back.
"""

from __future__ import annotations

import json

import pytest
import torch

from sggft_meta import folder_task, optim
from sggft_meta.baselines.meta_init import (INIT_CONFIG, INIT_WEIGHTS, MetaInitLearner, MetaInitSettings, body_names,
                                            load_init, read_init_config, save_init)
from sggft_meta.config import LoraSettings, ModelConfig, load_config
from sggft_meta.errors import CheckpointError, ConfigError, SggftError
from sggft_meta.inner_loop import InnerLoop, InnerSpec
from sggft_meta.meta_grad import meta_gradient
from sggft_meta.model.loading import load_backbone

SOURCES = "[demo_product_reviews,demo_news_topics,demo_entailment]"
LR = 0.1


# ------------------------------------------------------------------ (a) equal to learn2learn
@pytest.fixture(scope="module")
def world64(tiny_bert_dir, tmp_path_factory):
    from conftest import polarity_rows, write_jsonl

    folder = tmp_path_factory.mktemp("maml64")
    write_jsonl(folder / "train.jsonl", polarity_rows(30))
    write_jsonl(folder / "test.jsonl", polarity_rows(5, offset=100))
    task = folder_task(folder)
    bb = load_backbone(ModelConfig(name=str(tiny_bert_dir), dtype="float64", lora=LoraSettings(targets=["query", "value"])),
                       max_length=32)
    with torch.no_grad():  # LoRA B away from 0, so every factor has a gradient
        for n, p in bb.adaptable_parameters().items():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1), dtype=p.dtype))
    pool = bb.pool(task, "train", task.load_split("train"))
    support = [pool.batch(list(range(0, 8))), pool.batch(list(range(8, 16)))]  # a different batch per step
    query = pool.batch(list(range(20, 36)))
    bb.set_head(task, init="prototype", support=support[0])
    bb.eval()
    return bb, support, query


def _l2l_meta_gradient(l2l, bb, support, query, first_order):
    maml = l2l.algorithms.MAML(bb, lr=LR, first_order=first_order, allow_nograd=True)
    learner = maml.clone()
    for batch in support:
        learner.adapt(learner.module.loss(learner(**batch.inputs), batch.labels))
    learner.module.loss(learner(**query.inputs), query.labels).backward()
    grads = {n: p.grad.detach().clone() for n, p in bb.adaptable_parameters().items()}
    frozen = [n for n, p in bb.named_parameters() if not p.requires_grad and p.grad is not None]
    bb.zero_grad(set_to_none=True)
    return grads, frozen


@pytest.mark.parametrize("first_order", [False, True], ids=["second_order", "first_order"])
def test_functional_maml_equals_learn2learn(world64, first_order):
    l2l = pytest.importorskip("learn2learn")
    bb, support, query = world64
    loop = InnerLoop(bb, InnerSpec(lambdas={}, lr=LR, head_lr=LR, optimizer=optim.OptimSpec(kind="sgd")))
    mg = meta_gradient(loop, loop.flat_params(), support, query, k=None, first_order=first_order)
    ours = loop.layout.to_dict(mg.phi0_grad)
    theirs, frozen = _l2l_meta_gradient(l2l, bb, support, query, first_order)
    assert not frozen  # allow_nograd: the frozen weights stay out of it
    assert set(theirs) == set(ours) and any("lora_A" in n for n in ours) and "head.weight" in ours
    worst = 0.0
    for name, want in theirs.items():
        assert want.abs().max() > 0, name
        torch.testing.assert_close(ours[name], want, rtol=1e-8, atol=1e-14 * float(want.abs().max()))
        worst = max(worst, float((ours[name] - want).abs().max() / want.abs().max()))
    print(f"max relative difference to learn2learn ({'first' if first_order else 'second'} order): {worst:.1e}")
    if not first_order:  # the second-order terms matter here, so the comparison is not vacuous
        fo = meta_gradient(loop, loop.flat_params(), support, query, first_order=True).phi0_grad
        assert ((fo - mg.phi0_grad).norm() / mg.phi0_grad.norm()).item() > 1e-3


# ------------------------------------------------------------------ learners on the demo tasks
def meta_cfg(model_dir, *extra):
    return load_config(None, [f"model.name={model_dir}", "model.lora.targets=[query,value]", "data.max_length=32",
                              f"meta.sources={SOURCES}", "meta.meta_batch=2", "meta.inner_steps=2",
                              "meta.episode.k_shot=2", "meta.episode.q_query=4", "progress=false", *extra])


def fixed_episode_losses(learner, episodes):
    """Mean over `episodes` of the support loss at phi_0 and the query loss after T inner steps
    (the prototype head of each episode's support set, as in meta-training)."""
    from sggft_meta.outer_step import episode_task

    bb, support_total, query_total = learner.backbone, 0.0, 0.0
    learner._install()
    for task, ep in episodes:
        pool = learner.pools[task.name]
        support = pool.batch(ep.support, labels=ep.support_labels)
        query = pool.batch(ep.query, labels=ep.query_labels)
        bb.set_head(episode_task(task, ep.classes), init="prototype", support=support)
        loop = InnerLoop(bb, learner.spec)
        phi0 = loop.flat_params()
        support_total += loop.loss(phi0, support).item()
        query_total += loop.loss(loop.run(phi0, [support] * learner.cfg.meta.inner_steps).phi, query).item()
    return support_total / len(episodes), query_total / len(episodes)


# ------------------------------------------------------------------ (b) Reptile by hand
def test_reptile_update_on_hand_made_numbers(tiny_bert_dir):
    learner = MetaInitLearner(meta_cfg(tiny_bert_dir, "meta.reptile_lr=0.25", "meta.meta_batch=2"),
                              MetaInitSettings(algorithm="reptile"))
    before = {n: p.detach().clone() for n, p in zip(learner.names, learner.params)}
    deltas = iter([[torch.full_like(p, 2.0) for p in learner.params], [torch.full_like(p, -1.0) for p in learner.params]])
    learner.episode_update = lambda task, ep: (next(deltas), {"meta_loss": 1.0, "query_loss_before": 2.0})
    stats = learner.outer_step()
    # phi_0 += eps * mean(phi_T - phi_0) = 0.25 * (2 - 1) / 2 = 0.125, exactly
    for n, p in zip(learner.names, learner.params):
        assert torch.equal(p.detach(), before[n] + 0.125)
    installed = learner.backbone.adaptable_parameters()
    assert all(torch.equal(installed[n].detach(), p.detach()) for n, p in zip(learner.names, learner.params))
    assert stats.meta_loss == 1.0 and stats.query_loss_before == 2.0


def test_reptile_episode_delta_is_one_sgd_step_by_hand(tiny_bert_dir):
    """With T = 1 and SGD, phi_T - phi_0 = -inner_lr * grad L(phi_0; S) on the body."""
    from sggft_meta.outer_step import episode_task

    learner = MetaInitLearner(meta_cfg(tiny_bert_dir, "meta.inner_steps=1"),
                              MetaInitSettings(algorithm="reptile", inner_lr=0.3, inner_head_lr=0.7))
    task, ep = learner.draw_meta_batch()[0]
    delta, _ = learner.episode_update(task, ep)
    bb = learner.backbone
    pool = learner.pools[task.name]
    support = pool.batch(ep.support, labels=ep.support_labels)
    bb.set_head(episode_task(task, ep.classes), init="prototype", support=support)
    params = bb.adaptable_parameters()
    loss = bb.loss(bb(**support.inputs), support.labels)
    grads = torch.autograd.grad(loss, [params[n] for n in learner.names])
    for d, g in zip(delta, grads):
        torch.testing.assert_close(d, -0.3 * g, rtol=1e-5, atol=1e-9)


def test_train_inner_loop_takes_its_own_rates_and_keeps_the_rest_of_the_recipe(tiny_bert_dir):
    """inner_lr / inner_head_lr with inner_optimizer=train: the recipe's optimizer, clipping and
    weight decay at those rates, the same episode as the recipe itself at those rates; without
    them the recipe's train.lr / train.head_lr."""
    def delta(settings, *overrides):
        learner = MetaInitLearner(meta_cfg(tiny_bert_dir, "meta.inner_steps=2", *overrides), settings)
        task, ep = learner.draw_meta_batch()[0]
        return learner.spec, learner.episode_update(task, ep)[0]

    spec, own = delta(MetaInitSettings(algorithm="reptile", inner_optimizer="train", inner_lr=1e-4, inner_head_lr=1e-3),
                      "train.lr=0.002", "train.head_lr=0.02")
    assert (spec.lr, spec.head_lr, spec.grad_clip) == (1e-4, 1e-3, load_config(None).train.grad_clip)
    ref_spec, ref = delta(MetaInitSettings(algorithm="reptile", inner_optimizer="train"),
                          "train.lr=0.0001", "train.head_lr=0.001")
    assert (ref_spec.lr, ref_spec.head_lr) == (1e-4, 1e-3) and ref_spec.optimizer == spec.optimizer
    for a, b in zip(own, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    default_spec, default = delta(MetaInitSettings(algorithm="reptile", inner_optimizer="train"),
                                  "train.lr=0.002", "train.head_lr=0.02")
    assert (default_spec.lr, default_spec.head_lr) == (0.002, 0.02)
    assert sum(d.abs().sum() for d in default) > 5 * sum(d.abs().sum() for d in own)


def test_sgd_inner_rates_default_to_0_05_and_are_recorded():
    s = MetaInitSettings(algorithm="reptile")
    assert (s.inner_lr, s.inner_head_lr) == (0.05, 0.05)
    assert MetaInitSettings(inner_optimizer="train").model_dump()["inner_lr"] is None  # the recipe's, read at run time
    with pytest.raises(ValueError, match="inner_lr"):
        MetaInitSettings(inner_optimizer="train", inner_lr=0)


# ------------------------------------------------------------------ (c) each algorithm learns; save / load
@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile"])
def test_outer_steps_learn_and_save_load_round_trips(tiny_bert_dir, tmp_path, algorithm):
    """Three outer steps on one fixed meta-batch lower the loss each algorithm descends: the
    query loss after adaptation (MAML, FOMAML), the support loss along the path (Reptile; on
    this tiny random model its query loss does not follow on 2-shot supports)."""
    cfg = meta_cfg(tiny_bert_dir, "meta.outer_steps=3", "meta.meta_lr=0.05", "meta.checkpoint_every=10")
    learner = MetaInitLearner(cfg, MetaInitSettings(algorithm=algorithm, inner_lr=0.05 if algorithm != "reptile" else 2.0))
    fixed = learner.draw_meta_batch()
    learner.draw_meta_batch = lambda: fixed
    start = {k: v.clone() for k, v in learner.init_state().items()}
    support_before, query_before = fixed_episode_losses(learner, fixed)
    init = learner.train(tmp_path / "run")
    support_after, query_after = fixed_episode_losses(learner, fixed)
    moved = sum(float((init[n] - start[n]).norm()) for n in start)
    assert moved > 0 and all(torch.isfinite(v).all() for v in init.values())
    print(f"{algorithm}: support loss at phi_0 {support_before:.5f} -> {support_after:.5f}, query loss after "
          f"adaptation {query_before:.5f} -> {query_after:.5f}, |phi_0 moved| {moved:.3g}")
    if algorithm == "reptile":
        assert support_after < support_before
    else:
        assert query_after < query_before
        assert [h["meta_loss"] for h in learner.history] == sorted((h["meta_loss"] for h in learner.history), reverse=True)
    # the saved directory: both files, and the record
    saved = read_init_config(tmp_path / "run")
    assert (tmp_path / "run" / INIT_WEIGHTS).is_file()
    assert saved["algorithm"] == algorithm and saved["steps"] == 3 and saved["backbone"] == str(tiny_bert_dir)
    assert saved["sources"] == ["demo_product_reviews", "demo_news_topics", "demo_entailment"]
    assert saved["library_version"] and set(saved["tensors"]) == set(start)
    # a fresh backbone takes the learned init bitwise
    fresh = load_backbone(cfg.model, cfg.data.max_length)
    pristine = fresh.snapshot(include_head=False)
    assert any(not torch.equal(pristine[n], init[n]) for n in init)
    load_init(tmp_path / "run", fresh)
    got = fresh.snapshot(include_head=False)
    assert set(got) == set(init) and all(torch.equal(got[n], init[n]) for n in init)


# ------------------------------------------------------------------ (d) kill and resume
class Killed(Exception):
    pass


def test_kill_and_resume_ends_with_the_same_init(tiny_bert_dir, tmp_path):
    cfg = meta_cfg(tiny_bert_dir, "meta.outer_steps=5", "meta.checkpoint_every=2")
    settings = MetaInitSettings(algorithm="maml")
    straight = MetaInitLearner(cfg, settings).train(tmp_path / "straight")

    def kill_at_3(stats):
        if stats.step == 3:
            raise Killed  # after step 3, whose checkpoint (every 2) was never written

    with pytest.raises(Killed):
        MetaInitLearner(cfg, settings).train(tmp_path / "resumed", on_step=kill_at_3)
    assert (tmp_path / "resumed" / "checkpoints" / "latest").read_text().strip() == "step-0000002"
    assert read_init_config(tmp_path / "resumed")["steps"] == 2  # the init saved with the checkpoint
    again = MetaInitLearner(cfg, settings)
    resumed = again.train(tmp_path / "resumed")
    assert again.step == 5
    assert resumed.keys() == straight.keys() and all(torch.equal(resumed[k], straight[k]) for k in straight)
    a = (tmp_path / "straight" / INIT_WEIGHTS).read_bytes()
    assert a == (tmp_path / "resumed" / INIT_WEIGHTS).read_bytes()
    # the same directory with another algorithm or other sources is refused
    with pytest.raises(ConfigError, match="holds a maml run"):
        MetaInitLearner(cfg, MetaInitSettings(algorithm="reptile")).train(tmp_path / "resumed")


# ------------------------------------------------------------------ (e) bad directories and configs
@pytest.fixture(scope="module")
def saved_init(tiny_bert_dir, tmp_path_factory):
    cfg = meta_cfg(tiny_bert_dir)
    bb = load_backbone(cfg.model, cfg.data.max_length)
    out = tmp_path_factory.mktemp("init") / "init"
    save_init(out, bb, algorithm="reptile", sources=["demo_news_topics"], steps=0, adapt="lora")
    return out, cfg


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _edit(path, **fields):
    cfg = json.loads(path.read_text())
    cfg.update(fields)
    path.write_text(json.dumps(cfg))


@pytest.mark.parametrize("case,fragment", [
    ("missing", "does not exist"),
    ("file", "is a file"),
    ("empty", "init.json is missing, so this is not a saved initialisation"),
    ("weights_only", "init.json is missing beside init.safetensors"),
    ("aligner", "holds a saved aligner"),
    ("foreign", 'no "format": "sggft-meta-init" tag'),
    ("newer", "format version 99"),
    ("no_sources", "fields missing or of the wrong type: sources"),
    ("truncated", "init.safetensors is truncated"),
    ("tampered", "does not match its recorded sha256"),
    ("other_backbone", "not on 'someone/else'"),
    ("extra_names", "holds 4 parameter(s) this backbone does not adapt"),
    ("missing_names", "lacks 4 parameter(s) this backbone adapts"),
    ("wrong_shapes", "has shape [8, 16] in init.safetensors, this backbone's is [4, 16]"),
    ("non_finite", "in init.safetensors holds NaN or infinite values"),
])
def test_bad_init_directories(saved_init, tmp_path, tiny_bert_dir, case, fragment):
    good, cfg = saved_init
    model = cfg.model
    target = tmp_path / "bad"
    if case == "missing":
        pass
    elif case == "file":
        target.write_text("x")
    elif case == "empty":
        target.mkdir()
    elif case == "weights_only":
        _copy(good, target)
        (target / INIT_CONFIG).unlink()
    elif case == "aligner":
        target.mkdir()
        (target / "config.json").write_text("{}")
        (target / "model.safetensors").write_bytes(b"")
    elif case in ("foreign", "newer", "no_sources"):
        _copy(good, target)
        _edit(target / INIT_CONFIG, **{"foreign": {"format": "something"}, "newer": {"format_version": 99},
                                       "no_sources": {"sources": None}}[case])
    elif case == "non_finite":  # NaN weights under a valid checksum
        from safetensors.torch import load, save

        from sggft_meta.io import digest

        _copy(good, target)
        state = load((target / INIT_WEIGHTS).read_bytes())
        name = sorted(state)[0]
        state[name][0, 0] = float("nan")
        data = save(state, metadata={"format": "pt"})
        (target / INIT_WEIGHTS).write_bytes(data)
        _edit(target / INIT_CONFIG, weights={"file": INIT_WEIGHTS, **digest(data)})
        fragment = f"tensor {name!r} {fragment}"
    elif case in ("truncated", "tampered"):
        _copy(good, target)
        data = (target / INIT_WEIGHTS).read_bytes()
        (target / INIT_WEIGHTS).write_bytes(data[:-8] if case == "truncated" else data[:-1] + bytes([data[-1] ^ 1]))
    else:
        target = good
        if case == "extra_names":  # saved with query+value, loaded where only query is adapted
            model = model.model_copy(update={"lora": LoraSettings(targets=["query"])})
        elif case == "missing_names":
            model = model.model_copy(update={"lora": LoraSettings(targets=["query", "value", "key"])})
        elif case == "wrong_shapes":
            model = model.model_copy(update={"lora": LoraSettings(targets=["query", "value"], r=4)})
    bb = load_backbone(model, 32)
    if case == "other_backbone":
        bb.backbone_name = "someone/else"
    before = bb.snapshot(include_head=False)
    with pytest.raises(CheckpointError, match=fragment.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")) as err:
        load_init(target, bb)
    assert isinstance(err.value, SggftError) and "\n" not in str(err.value)
    after = bb.snapshot(include_head=False)
    assert all(torch.equal(before[n], after[n]) for n in before)  # untouched


@pytest.mark.parametrize("overrides,settings,fragment", [
    (["meta.sources=[]"], {}, "one or more source tasks"),
    (["meta.sources=[demo_news_topics,demo_news_topics]"], {}, "listed twice"),
    (["model.adapt=head"], {}, "no initialisation to meta-learn"),
])
def test_bad_meta_init_configs(tiny_bert_dir, overrides, settings, fragment):
    with pytest.raises(ConfigError, match=fragment):
        MetaInitLearner(meta_cfg(tiny_bert_dir, *overrides), MetaInitSettings(**settings))


def test_body_names_leave_out_the_head(tiny_bert_dir):
    bb = load_backbone(meta_cfg(tiny_bert_dir).model, 32)
    names = body_names(bb)
    assert names and all(".lora_" in n for n in names) and not any(n.startswith("head.") for n in names)


def test_episodes_run_in_eval_mode_and_modes_are_restored(tiny_bert_dir):
    """No dropout during meta-training (the backward sweep recomputes steps), whatever mode the
    backbone was in; afterwards every submodule is back in its own mode."""
    learner = MetaInitLearner(meta_cfg(tiny_bert_dir, "meta.meta_batch=1", "meta.inner_steps=1"),
                              MetaInitSettings(algorithm="fomaml"))
    bb = learner.backbone
    bb.train()
    bb.body.eval()  # mixed modes: the wrapper in train mode, the HF body in eval
    modes = [m.training for m in bb.body.modules()]
    seen = []
    real = learner.episode_update

    def spy(task, ep):
        out = real(task, ep)
        seen.append([m.training for m in bb.body.modules()])  # (set_head builds a new head module)
        return out

    learner.episode_update = spy
    learner.outer_step()
    assert seen and not any(any(s) for s in seen)
    assert [m.training for m in bb.body.modules()] == modes and bb.training  # (the head is a new module)


def _rank_main(rank, world, model_dir, store, out):
    import os

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        learner = MetaInitLearner(meta_cfg(model_dir, "meta.outer_steps=1", "meta.meta_batch=4", "model.dtype=float64"),
                                  MetaInitSettings(algorithm="maml"))
        init = learner.train()
        if rank == 0:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in init.items()}, out)
    finally:
        torch.distributed.destroy_process_group()


def test_two_ranks_equal_one_rank(tiny_bert_dir, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "two_ranks.safetensors"
    torch.multiprocessing.spawn(_rank_main, args=(2, str(tiny_bert_dir), str(tmp_path / "store"), str(out)), nprocs=2, join=True)
    one = MetaInitLearner(meta_cfg(tiny_bert_dir, "meta.outer_steps=1", "meta.meta_batch=4", "model.dtype=float64"),
                          MetaInitSettings(algorithm="maml"))
    before = {k: v.clone() for k, v in one.init_state().items()}
    mine = one.train()
    two = load_file(out)
    assert any(not torch.equal(before[k], v) for k, v in mine.items())
    for k, v in mine.items():
        torch.testing.assert_close(two[k], v, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ (e) an inner loop that diverges is reported
def _history(pairs):
    return [{"step": i + 1, "meta_loss": a, "query_loss_before": b} for i, (a, b) in enumerate(pairs)]


@pytest.mark.parametrize("pairs, found", [
    ([(10.5, 1.9), (25.1, 1.9), (11.6, 2.4)], (47.2 / 3, 6.2 / 3)),  # SmolLM2 with SGD at 0.05
    ([(1.0, 2.0), (1.0, 2.0), (40.0, 2.0)], (14.0, 2.0)),  # one bad step in three is enough on the mean
    ([(3.9, 2.0), (4.0, 2.0), (4.1, 2.0)], None),  # twice, not more
    ([(1.9, 1.9), (3.1, 1.7), (3.6, 2.0)], None),  # 1.6 times (SmolLM2's AdamW inner loop averages 1.3-1.7): under the threshold
    ([(0.7, 0.7), (0.71, 0.69), (0.69, 0.7)], None),  # MiniLM: within 0.003
    ([(90.0, 1.0), (90.0, 1.0)], None),  # fewer than three steps: no verdict yet
    ([(1.0, 1.0), (1.0, 1.0), (float("nan"), 1.0)], "nan"),
])
def test_inner_loop_raising_the_query_loss_is_found(tiny_bert_dir, pairs, found):
    learner = MetaInitLearner(meta_cfg(tiny_bert_dir), MetaInitSettings(algorithm="reptile"))
    learner.history = _history(pairs)
    got = learner.inner_loop_raises_query_loss()
    if found is None:
        assert got is None
    elif found == "nan":
        assert got is not None and got[1] == 1.0
    else:
        assert got == pytest.approx(found)


def test_a_diverging_inner_loop_warns_once_with_the_fix(tiny_bert_dir):
    cfg = meta_cfg(tiny_bert_dir, "meta.outer_steps=4", "meta.reptile_lr=0.1")
    bad = MetaInitLearner(cfg, MetaInitSettings(algorithm="reptile", inner_lr=500.0, inner_head_lr=500.0))
    with pytest.warns(RuntimeWarning, match=r"raises the query loss.*lower inner_lr / inner_head_lr \(now 500 / 500\)"
                                            r".*inner_optimizer=train") as caught:
        bad.train()
    assert len([w for w in caught if "raises the query loss" in str(w.message)]) == 1
    assert any(h["meta_loss"] > 1.5 * h["query_loss_before"] for h in bad.history)
    import warnings
    with warnings.catch_warnings():  # the default SGD steps do not diverge here: no warning
        warnings.simplefilter("error")
        good = MetaInitLearner(cfg, MetaInitSettings(algorithm="reptile"))
        good.train()
    assert good.inner_loop_raises_query_loss() is None


@pytest.mark.parametrize("clip, fix", [("1.0", r"or lower train.grad_clip \(now 1\)"), ("null", r"or set train.grad_clip")])
def test_the_train_inner_loop_names_the_recipe_to_lower(tiny_bert_dir, clip, fix):
    cfg = meta_cfg(tiny_bert_dir, "train.lr=0.002", "train.head_lr=0.02", f"train.grad_clip={clip}")
    learner = MetaInitLearner(cfg, MetaInitSettings(algorithm="fomaml", inner_optimizer="train"))
    learner.history, learner.step = _history([(5.0, 1.0)] * 3), 3
    with pytest.warns(RuntimeWarning, match=r"over outer steps 1-3\).*lower inner_lr / inner_head_lr \(now 0.002 / 0.02, from train.lr / "
                                             r"train.head_lr, which the target runs keep\) " + fix):
        learner._warn_if_inner_loop_diverges()


@pytest.mark.parametrize("override, now", [
    ("inner_lr", r"now 0.0001 / 0.02, the second from train.head_lr, which the target runs keep"),
    ("inner_head_lr", r"now 0.002 / 0.0001, the first from train.lr, which the target runs keep"),
    ("both", r"now 0.0001 / 0.0001\)"),
])
def test_the_warning_says_which_inner_rate_comes_from_the_recipe(tiny_bert_dir, override, now):
    cfg = meta_cfg(tiny_bert_dir, "train.lr=0.002", "train.head_lr=0.02")
    rates = {"inner_lr": 1e-4, "inner_head_lr": 1e-4}
    if override != "both":
        rates = {override: 1e-4}
    learner = MetaInitLearner(cfg, MetaInitSettings(algorithm="fomaml", inner_optimizer="train", **rates))
    learner.history, learner.step = _history([(5.0, 1.0)] * 3), 3
    with pytest.warns(RuntimeWarning, match=r"lower inner_lr / inner_head_lr \(" + now) as caught:
        learner._warn_if_inner_loop_diverges()
    assert "train.lr / train.head_lr" not in str(caught[0].message)


# ------------------------------------------------------------------ resuming: the config, the result
def test_resume_refuses_changed_settings_and_ignores_what_it_does_not_read(tiny_bert_dir, tmp_path, capsys):
    cfg = meta_cfg(tiny_bert_dir, "meta.outer_steps=1", "meta.checkpoint_every=1")
    MetaInitLearner(cfg, MetaInitSettings(algorithm="fomaml")).train(tmp_path / "run")
    longer = meta_cfg(tiny_bert_dir, "meta.outer_steps=2", "meta.checkpoint_every=1")
    with pytest.raises(ConfigError) as info:
        MetaInitLearner(longer, MetaInitSettings(algorithm="fomaml", inner_lr=0.01)).train(tmp_path / "run")
    assert "settings.inner_lr 0.05 -> 0.01" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="meta.inner_steps 2 -> 3"):
        MetaInitLearner(meta_cfg(tiny_bert_dir, "meta.outer_steps=2", "meta.inner_steps=3"),
                        MetaInitSettings(algorithm="fomaml")).train(tmp_path / "run")
    # the SGGFT settings, and train.* with the sgd inner loop, are not read: they may change
    capsys.readouterr()
    other = meta_cfg(tiny_bert_dir, "meta.outer_steps=2", "sggft.lambda_dir=0.7", "meta.truncate_k=2", "train.lr=0.5")
    learner = MetaInitLearner(other, MetaInitSettings(algorithm="fomaml"))
    learner.train(tmp_path / "run")
    assert learner.step == 2 and f"resuming meta-training from step 1 of 2 in {tmp_path / 'run'}" in capsys.readouterr().err


def test_a_finished_run_rebuilds_a_damaged_initialisation(tiny_bert_dir, tmp_path, capsys):
    cfg = meta_cfg(tiny_bert_dir, "meta.outer_steps=2", "meta.checkpoint_every=1")
    settings = MetaInitSettings(algorithm="reptile")
    MetaInitLearner(cfg, settings).train(tmp_path / "run")
    weights = (tmp_path / "run" / INIT_WEIGHTS).read_bytes()
    (tmp_path / "run" / INIT_WEIGHTS).write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))
    capsys.readouterr()
    MetaInitLearner(cfg, settings).train(tmp_path / "run")
    err = capsys.readouterr().err
    assert f"meta-training in {tmp_path / 'run'} already finished at step 2; the initialisation was not intact (" in err
    assert (tmp_path / "run" / INIT_WEIGHTS).read_bytes() == weights
    MetaInitLearner(cfg, settings).train(tmp_path / "run")
    assert "already finished at step 2; the initialisation is verified" in capsys.readouterr().err
