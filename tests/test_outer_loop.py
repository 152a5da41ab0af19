"""The meta-learner: kill-and-resume continues the same run; 2 ranks equal 1; bad configs."""

from __future__ import annotations

import os

import pytest
import torch

from sggft_meta.config import load_config
from sggft_meta.errors import CheckpointError, ConfigError
from sggft_meta.outer_loop import MetaLearner

SOURCES = "[demo_product_reviews,demo_news_topics,demo_entailment]"


def meta_cfg(model_dir, *extra):
    return load_config(None, [f"model.name={model_dir}", "model.lora.targets=[query,value]", "data.max_length=32",
                              f"meta.sources={SOURCES}", "meta.meta_batch=2", "meta.inner_steps=2",
                              "meta.episode.k_shot=2", "meta.episode.q_query=2", "sggft.lambda_align=1",
                              "sggft.mode=surgery", "progress=false", *extra])


class Killed(Exception):
    pass


def test_kill_and_resume_ends_with_the_same_aligner(tiny_bert_dir, tmp_path):
    cfg = meta_cfg(tiny_bert_dir, "meta.outer_steps=5", "meta.checkpoint_every=2", "meta.reptile=true")
    straight = MetaLearner(cfg).train(tmp_path / "straight")

    def kill_at_3(stats):
        if stats.step == 3:
            raise Killed  # after step 3, whose checkpoint (every 2) was never written

    with pytest.raises(Killed):
        MetaLearner(cfg).train(tmp_path / "resumed", on_step=kill_at_3)
    assert (tmp_path / "resumed" / "checkpoints" / "latest").read_text().strip() == "step-0000002"
    again = MetaLearner(cfg)
    resumed = again.train(tmp_path / "resumed")
    assert again.step == 5
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the saved transfer directory holds the final aligner
    from sggft_meta.align import load_aligner

    saved = load_aligner(tmp_path / "resumed").state_dict()
    assert all(torch.equal(saved[k], b[k].cpu()) for k in b)


def _rank_main(rank, world, model_dir, store, out):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        learner = MetaLearner(meta_cfg(model_dir, "meta.outer_steps=1", "meta.meta_batch=4", "model.dtype=float64"))
        learner.train()
        if rank == 0:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in learner.aligner.state_dict().items()}, out)
    finally:
        torch.distributed.destroy_process_group()


def test_two_ranks_equal_one_rank(tiny_bert_dir, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "two_ranks.safetensors"
    torch.multiprocessing.spawn(_rank_main, args=(2, str(tiny_bert_dir), str(tmp_path / "store"), str(out)), nprocs=2, join=True)
    one = MetaLearner(meta_cfg(tiny_bert_dir, "meta.outer_steps=1", "meta.meta_batch=4", "model.dtype=float64"))
    before = {k: v.clone() for k, v in one.aligner.state_dict().items()}
    one.train()
    two = load_file(out)
    for k, v in one.aligner.state_dict().items():
        # the aligner starts closed (every gate 0): the first step's meta-gradient reaches only its
        # opening, which moves; the network's weights act through the zero gate and stay put
        assert torch.equal(v, before[k]) != (k == "opening")
        torch.testing.assert_close(two[k], v, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("overrides,fragment", [
    (["meta.sources=[demo_product_reviews]"], "two or more source tasks"),
    (["sggft.lambda_align=0"], "sggft.lambda_align"),
    (["meta.aligner.type=none"], "nothing to learn"),
    (["meta.truncate_k=9"], "meta.truncate_k=9 exceeds"),
    (["meta.sources=[demo_product_reviews,demo_prodcut_reviews]"], "Did you mean 'demo_product_reviews'"),
])
def test_bad_meta_configs(tiny_bert_dir, overrides, fragment):
    with pytest.raises(Exception, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        MetaLearner(meta_cfg(tiny_bert_dir, "meta.outer_steps=1", *overrides))


def test_resume_refuses_another_run(tiny_bert_dir, tmp_path):
    MetaLearner(meta_cfg(tiny_bert_dir, "meta.outer_steps=1", "meta.checkpoint_every=1")).train(tmp_path / "run")
    other = meta_cfg(tiny_bert_dir, "meta.outer_steps=2", "meta.sources=[demo_product_reviews,demo_entailment]")
    with pytest.raises(ConfigError, match="holds a run on sources"):
        MetaLearner(other).train(tmp_path / "run")


# ------------------------------------------------------------------ resuming: the config, the result, the log
def _train(cfg, out):
    learner = MetaLearner(cfg)
    learner.train(out)
    return learner


def _drop_recorded_config(run):
    """Make the latest checkpoint look like one written before checkpoints recorded their config."""
    import json

    name = (run / "checkpoints" / "latest").read_text().strip()
    path = run / "checkpoints" / name / "meta.json"
    doc = json.loads(path.read_text())
    del doc["meta"]["config"]
    path.write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def one_step_run(tiny_bert_dir, tmp_path_factory):
    """A meta-training of one outer step (checkpointed), to resume from with other settings."""
    run = tmp_path_factory.mktemp("one_step") / "run"
    _train(meta_cfg(tiny_bert_dir, "meta.outer_steps=1", "meta.checkpoint_every=1"), run)
    return run


def _copy_run(run, tmp_path):
    import shutil

    return shutil.copytree(run, tmp_path / "run")


def test_resume_with_another_aligner_width_is_a_clear_error(tiny_bert_dir, one_step_run, tmp_path):
    run = _copy_run(one_step_run, tmp_path)
    wider = meta_cfg(tiny_bert_dir, "meta.outer_steps=2", "meta.aligner.hidden=8")
    with pytest.raises(ConfigError) as info:
        MetaLearner(wider).train(run)
    msg = str(info.value)
    assert "meta.aligner.hidden 32 -> 8" in msg and str(run) in msg and "\n" not in msg
    # a checkpoint that records no config: the tensors' shapes are checked before anything is loaded
    _drop_recorded_config(run)
    with pytest.raises(CheckpointError) as info:
        MetaLearner(wider).train(run)
    msg = str(info.value)
    assert msg.startswith(f"{run}: the checkpoint's aligner tensor 'net.0.weight' has shape [32, ")
    assert "meta.aligner.hidden=8" in msg and "another --out" in msg and "\n" not in msg


@pytest.mark.parametrize("override,change", [
    ("meta.inner_steps=3", "meta.inner_steps 2 -> 3"),
    ("meta.episode.k_shot=3", "meta.episode.k_shot 2 -> 3"),
    ("meta.meta_lr=0.01", "meta.meta_lr 0.001 -> 0.01"),
    ("meta.meta_batch=3", "meta.meta_batch 2 -> 3"),
    ("meta.meta_grad=unrolled", 'meta.meta_grad "truncated" -> "unrolled"'),
    ("meta.truncate_k=2", "meta.truncate_k 1 -> 2"),
    ("sggft.mode=hvp", 'sggft.mode "surgery" -> "hvp"'),
    ("sggft.lambda_dir=0.5", "sggft.lambda_dir 0.1 -> 0.5"),
    ("model.lora.r=4", "model.lora.r 8 -> 4"),
    ("model.adapt=full", 'model.adapt "lora" -> "full"'),
    ("meta.aligner.init_rho=0.3", "meta.aligner.init_rho 0.5 -> 0.3"),
    ("meta.seed=1", "meta.seed 0 -> 1"),
    ("data.max_length=24", "data.max_length 32 -> 24"),
])
def test_resume_refuses_a_changed_training_config(tiny_bert_dir, one_step_run, override, change):
    before = sorted(p.name for p in (one_step_run / "checkpoints").iterdir())
    with pytest.raises(ConfigError) as info:
        MetaLearner(meta_cfg(tiny_bert_dir, "meta.outer_steps=2", override)).train(one_step_run)
    msg = str(info.value)
    assert msg.startswith(f"{one_step_run} holds a meta-training run with another training config (")
    assert change in msg and "\n" not in msg
    assert "(a resumed run may change meta.outer_steps, meta.checkpoint_every, progress, out, model.device)" in msg
    assert sorted(p.name for p in (one_step_run / "checkpoints").iterdir()) == before  # nothing written


def test_resume_names_every_changed_field(tiny_bert_dir, one_step_run):
    changed = meta_cfg(tiny_bert_dir, "meta.outer_steps=2", "meta.inner_steps=3", "meta.meta_lr=0.01", "meta.seed=7")
    with pytest.raises(ConfigError) as info:
        MetaLearner(changed).train(one_step_run)
    msg = str(info.value)
    assert "meta.meta_lr 0.001 -> 0.01; meta.inner_steps 2 -> 3; meta.seed 0 -> 7" in msg, msg


def test_resume_may_change_the_steps_checkpoints_progress_and_device(tiny_bert_dir, one_step_run, tmp_path):
    run = _copy_run(one_step_run, tmp_path)
    learner = _train(meta_cfg(tiny_bert_dir, "meta.outer_steps=2", "meta.checkpoint_every=5", "progress=true",
                              "model.device=cpu", f"out={tmp_path / 'x.json'}", "shots=4", "seeds=[1]"), run)
    assert learner.step == 2


def test_a_checkpoint_without_a_recorded_config_still_resumes(tiny_bert_dir, one_step_run, tmp_path):
    run = _copy_run(one_step_run, tmp_path)
    _drop_recorded_config(run)
    assert _train(meta_cfg(tiny_bert_dir, "meta.outer_steps=2"), run).step == 2


def test_a_resumed_run_says_so_on_stderr(tiny_bert_dir, one_step_run, tmp_path, capsys):
    run = _copy_run(one_step_run, tmp_path)
    capsys.readouterr()
    _train(meta_cfg(tiny_bert_dir, "meta.outer_steps=2"), run)
    err = capsys.readouterr().err
    assert f"resuming meta-training from step 1 of 2 in {run}\n" in err
    _train(meta_cfg(tiny_bert_dir, "meta.outer_steps=1"), tmp_path / "fresh")
    assert "resuming" not in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["flip_a_byte", "delete_weights", "delete_config", "stale_pair"])
def test_a_finished_run_verifies_its_aligner_and_rebuilds_a_damaged_one(tiny_bert_dir, tmp_path, capsys, damage):
    import shutil

    cfg = meta_cfg(tiny_bert_dir, "meta.outer_steps=2", "meta.checkpoint_every=1")
    run = tmp_path / "run"
    _train(cfg, run)
    weights, config = (run / "model.safetensors").read_bytes(), (run / "config.json").read_bytes()
    capsys.readouterr()
    _train(cfg, run)  # intact: nothing to do
    assert f"meta-training in {run} already finished at step 2; the aligner is verified\n" in capsys.readouterr().err
    if damage == "flip_a_byte":  # same size, checksum no longer matches
        (run / "model.safetensors").write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))
    elif damage == "delete_weights":
        (run / "model.safetensors").unlink()
    elif damage == "delete_config":
        (run / "config.json").unlink()
    else:  # a consistent pair of an earlier step, as left by a kill between the last checkpoint and the save
        _train(meta_cfg(tiny_bert_dir, "meta.outer_steps=1"), tmp_path / "early")
        for name in ("model.safetensors", "config.json"):
            shutil.copy(tmp_path / "early" / name, run / name)
    learner = _train(cfg, run)
    err = capsys.readouterr().err
    assert f"meta-training in {run} already finished at step 2; the aligner was not intact (" in err
    line = [l for l in err.splitlines() if "meta-training" in l]
    assert len(line) == 1 and line[0].endswith("is rebuilt from the checkpoint of step 2"), err
    assert (run / "model.safetensors").read_bytes() == weights  # the same bytes as before
    assert (run / "config.json").read_bytes() == config
    from sggft_meta.align import load_aligner

    loaded = load_aligner(run).state_dict()
    assert all(torch.equal(v, learner.aligner.state_dict()[k]) for k, v in loaded.items())


def test_a_finished_run_that_cannot_rebuild_says_how(tiny_bert_dir, tmp_path, monkeypatch):
    cfg = meta_cfg(tiny_bert_dir, "meta.outer_steps=1", "meta.checkpoint_every=1")
    run = tmp_path / "run"
    _train(cfg, run)
    (run / "model.safetensors").write_bytes(b"broken")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    import sggft_meta.align.transfer as transfer

    monkeypatch.setattr(transfer, "write_bytes_atomic", refuse)
    with pytest.raises(CheckpointError) as info:
        _train(cfg, run)
    msg = str(info.value)
    assert "could not be rebuilt from the checkpoint of step 1" in msg and f"make {run} writable" in msg
    assert "\n" not in msg


def test_resume_refuses_checkpoints_of_a_meta_learned_initialisation(tiny_bert_dir, tmp_path):
    from sggft_meta.baselines.meta_init import MetaInitLearner, MetaInitSettings

    cfg = meta_cfg(tiny_bert_dir, "meta.outer_steps=1", "meta.checkpoint_every=1")
    MetaInitLearner(cfg, MetaInitSettings(algorithm="reptile")).train(tmp_path / "init")
    with pytest.raises(ConfigError, match="holds checkpoints of another kind of run .sggft-meta-init., not of an aligner"):
        MetaLearner(cfg).train(tmp_path / "init")
