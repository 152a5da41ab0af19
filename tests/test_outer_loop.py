"""The meta-learner: kill-and-resume continues the same run; 2 ranks equal 1; bad configs."""

from __future__ import annotations

import os

import pytest
import torch

from sggft_meta.config import load_config
from sggft_meta.errors import ConfigError
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
        assert not torch.equal(v, before[k]) or k.endswith("bias")  # the step moved the weights
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
