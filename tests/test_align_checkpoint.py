"""The aligner transfer format (config.json + model.safetensors) and resumable training checkpoints."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from sggft_meta.align import ALIGNERS, Aligner
from sggft_meta.align import transfer as ck
from sggft_meta.align.transfer import load_aligner, read_aligner_config, save_aligner
from sggft_meta.checkpoint import read_latest_checkpoint, write_checkpoint
from sggft_meta.align.features import FEATURE_SPEC, NUM_FEATURES
from sggft_meta.errors import CheckpointError, SggftError


def learned(seed: int = 3, hidden: int = 8):
    return ALIGNERS.get("learned")(hidden=hidden, seed=seed)


def trained(seed: int = 3):
    """A learned aligner whose weights moved away from their initialisation."""
    a = learned(seed)
    with torch.no_grad():
        for p in a.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)) * 0.3)
    return a


def assert_same(a: Aligner, b: Aligner) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def saved(tmp_path: Path, seed: int = 3) -> tuple[Aligner, Path]:
    a = trained(seed)
    d = save_aligner(a, tmp_path / "al", sources=["sst2", "trec"], summary={"outer_steps": 5, "meta_loss": 0.25})
    return a, d


# --- save / load ---------------------------------------------------------------------------------


def test_round_trip_is_bitwise(tmp_path):
    a, d = saved(tmp_path)
    assert sorted(p.name for p in d.iterdir()) == ["config.json", "model.safetensors"]
    b = load_aligner(d)
    assert type(b) is type(a) and b.config() == a.config()
    assert_same(a, b)
    z = torch.randn(7, NUM_FEATURES, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.net(z), b.net(z))
    assert all(p.requires_grad for p in b.parameters())  # it can be trained further

    cfg = json.loads((d / "config.json").read_text())
    assert cfg["format"] == "sggft-aligner" and cfg["format_version"] == ck.FORMAT_VERSION
    assert cfg["type"] == "learned" and cfg["aligner_config"] == a.config()
    assert cfg["feature_spec"] == FEATURE_SPEC and cfg["sources"] == ["sst2", "trec"]
    assert cfg["summary"] == {"outer_steps": 5, "meta_loss": 0.25}
    import sggft_meta

    assert cfg["library_version"] == sggft_meta.__version__
    assert cfg["weights"]["bytes"] == (d / "model.safetensors").stat().st_size
    assert read_aligner_config(d)["sources"] == ["sst2", "trec"]


def test_float64_and_non_learned_aligners_round_trip(tmp_path):
    a = trained().double()
    b = load_aligner(save_aligner(a, tmp_path / "f64"))
    assert_same(a, b)
    g = ALIGNERS.get("gradvac")(beta=0.2, gate=0.7)
    h = load_aligner(save_aligner(g, tmp_path / "gv"))
    assert type(h) is type(g) and h.config() == {"beta": 0.2, "gate": 0.7}


def test_pretrained_methods(tmp_path):
    a = trained()
    a.save_pretrained(tmp_path / "p", sources=["rte"])
    b = Aligner.from_pretrained(tmp_path / "p")
    assert_same(a, b)
    assert_same(a, type(a).from_pretrained(tmp_path / "p"))
    with pytest.raises(CheckpointError, match="holds a 'learned' aligner, not GradVacAligner"):
        ALIGNERS.get("gradvac").from_pretrained(tmp_path / "p")


def test_resave_overwrites(tmp_path):
    _, d = saved(tmp_path, seed=3)
    b = trained(seed=4)
    save_aligner(b, d)
    assert_same(b, load_aligner(d))
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]


def test_no_pickle_anywhere(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("unpickling is forbidden")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "dump", boom)
    monkeypatch.setattr(pickle, "dumps", boom)
    monkeypatch.setattr(torch, "load", boom)
    monkeypatch.setattr(torch, "save", boom)
    a, d = saved(tmp_path)
    assert_same(a, load_aligner(d))
    g = torch.Generator().manual_seed(1)
    write_checkpoint(tmp_path / "run", 1, {"g": g.get_state()}, {})
    assert torch.equal(read_latest_checkpoint(tmp_path / "run")[1]["g"], g.get_state())


# --- bad directories -------------------------------------------------------------------------------


def _expect(d, *fragments):
    with pytest.raises(CheckpointError) as info:
        load_aligner(d)
    msg = str(info.value)
    assert str(d) in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    assert isinstance(info.value, SggftError) and isinstance(info.value, ValueError)
    return msg


def _edit_config(d: Path, **changes) -> None:
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


def test_missing_directory_and_file(tmp_path):
    _expect(tmp_path / "nope", "does not exist", "save_aligner")
    (tmp_path / "f").write_text("x")
    _expect(tmp_path / "f", "is a file")
    (tmp_path / "empty").mkdir()
    _expect(tmp_path / "empty", "config.json is missing", "not a saved aligner")


def test_missing_weights_or_config(tmp_path):
    _, d = saved(tmp_path)
    (d / "model.safetensors").unlink()
    _expect(d, "model.safetensors is missing", "re-save it")
    _, d = saved(tmp_path / "b")
    (d / "config.json").unlink()
    _expect(d, "config.json is missing", "incomplete or corrupt")


def test_corrupt_weights(tmp_path):
    _, d = saved(tmp_path)
    w = d / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-5] ^= 0xFF
    data[-1] ^= 0x01
    w.write_bytes(bytes(data))
    _expect(d, "does not match its recorded sha256", "incomplete or corrupt", "interrupted",
            "re-save it, or resume from the run's checkpoints")


def test_truncated_weights(tmp_path):
    _, d = saved(tmp_path)
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-40])
    _expect(d, "truncated", "incomplete or corrupt")


def test_config_not_json_or_missing_fields(tmp_path):
    _, d = saved(tmp_path)
    (d / "config.json").write_text('{"format": "sggft-aligner", ')
    _expect(d, "config.json is not valid JSON", "line 1")
    _, d = saved(tmp_path / "b")
    cfg = json.loads((d / "config.json").read_text())
    del cfg["aligner_config"], cfg["weights"]
    (d / "config.json").write_text(json.dumps(cfg))
    _expect(d, "missing fields: aligner_config, weights", "re-save")
    (d / "config.json").write_text("[1, 2]")
    _expect(d, "not an object")


def test_unknown_type(tmp_path):
    _, d = saved(tmp_path)
    _edit_config(d, type="lerned")
    _expect(d, "unknown aligner 'lerned'", "Did you mean 'learned'")


def test_future_format_version(tmp_path):
    _, d = saved(tmp_path)
    _edit_config(d, format_version=ck.FORMAT_VERSION + 1, library_version="9.0.0")
    _expect(d, "written by sggft-meta 9.0.0", "upgrade sggft-meta")


def test_changed_feature_spec(tmp_path):
    _, d = saved(tmp_path)
    spec = dict(FEATURE_SPEC, numeric=[*FEATURE_SPEC["numeric"], "curvature"])
    _edit_config(d, feature_spec=spec)
    _expect(d, "feature spec is incompatible", "differs in numeric: saved", "curvature", "retrain")


def test_tensor_mismatch_names_the_first(tmp_path):
    _, d = saved(tmp_path)
    _edit_config(d, aligner_config={"hidden": 4, "init_gate": 0.5, "init_rho": 0.0, "seed": 3})
    _expect(d, "'net.0.bias' has shape [8]", "expects [4]")
    _, d = saved(tmp_path / "b")
    _edit_config(d, aligner_config={"hidden": 8, "bogus": 1})
    _expect(d, "does not fit the constructor", "bogus")


def test_foreign_directories(tmp_path):
    peft = tmp_path / "peft"
    peft.mkdir()
    (peft / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (peft / "adapter_model.safetensors").write_bytes(b"")
    _expect(peft, "PEFT adapter", "not a saved sggft aligner")
    (peft / "config.json").write_text(json.dumps({"peft_type": "LORA"}))
    _expect(peft, "PEFT adapter")

    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (hf / "model.safetensors").write_bytes(b"")
    _expect(hf, "Hugging Face model", "'bert'", "backbone")

    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"lr": 0.1}))
    _expect(other, '"format": "sggft-aligner"', "something else")
    # and saving over a foreign directory is refused rather than clobbering it
    with pytest.raises(CheckpointError, match="Hugging Face model"):
        save_aligner(learned(), hf)
    assert json.loads((hf / "config.json").read_text())["model_type"] == "bert"
    with pytest.raises(CheckpointError, match="PEFT adapter"):
        save_aligner(learned(), peft)


def test_unregistered_aligner_cannot_be_saved(tmp_path):
    class Local(Aligner):
        type_name = "local-unregistered"

    with pytest.raises(CheckpointError, match="not registered"):
        save_aligner(Local(), tmp_path / "x")
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        save_aligner(learned(), tmp_path / "y", summary={"bad": object()})
    assert not (tmp_path / "y").exists()


# --- interrupted writes ------------------------------------------------------------------------------


def _fail_replace_on(monkeypatch, name: str):
    real = os.replace

    def replace(src, dst, *a, **k):
        if Path(dst).name == name:
            raise OSError("simulated crash")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


def test_crash_before_config_is_detected(tmp_path, monkeypatch):
    _, d = saved(tmp_path, seed=3)
    _fail_replace_on(monkeypatch, "config.json")  # new weights in place, old config vouches for old ones
    with pytest.raises(OSError, match="simulated crash"):
        save_aligner(trained(seed=4), d)
    monkeypatch.undo()
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]
    _expect(d, "does not match its recorded sha256", "the write was interrupted")


def test_crash_before_weights_keeps_old_pair(tmp_path, monkeypatch):
    a, d = saved(tmp_path, seed=3)
    _fail_replace_on(monkeypatch, "model.safetensors")
    with pytest.raises(OSError, match="simulated crash"):
        save_aligner(trained(seed=4), d)
    monkeypatch.undo()
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]
    assert_same(a, load_aligner(d))


def test_crash_on_first_save_is_detected(tmp_path, monkeypatch):
    _fail_replace_on(monkeypatch, "config.json")
    with pytest.raises(OSError):
        save_aligner(trained(), tmp_path / "new")
    monkeypatch.undo()
    _expect(tmp_path / "new", "config.json is missing", "incomplete or corrupt")


# --- training checkpoints ----------------------------------------------------------------------------


def test_checkpoint_round_trip_with_generator_state(tmp_path):
    g = torch.Generator().manual_seed(123)
    torch.rand(5, generator=g)  # advance it
    psi = torch.randn(4, 3)
    tensors = {
        "psi": psi.t(),  # non-contiguous
        "psi_view": psi[1],  # shares storage with psi
        "scalar": torch.tensor(2.5),  # 0-dim
        "count": torch.tensor(7, dtype=torch.int64),
        "rng": g.get_state(),  # uint8
        "grad": torch.ones(2, requires_grad=True) * 3,
    }
    meta = {"outer_step": 10, "history": [0.5, 0.25], "nan_loss": float("nan"), "config": {"lr": 1e-3}}
    path = write_checkpoint(tmp_path, 10, tensors, meta)
    assert path == tmp_path / "checkpoints" / "step-0000010"
    assert sorted(p.name for p in path.iterdir()) == ["meta.json", "tensors.safetensors"]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "step-0000010"

    expected_next = torch.rand(6, generator=g)
    step, got, got_meta = read_latest_checkpoint(tmp_path)
    assert step == 10
    assert got_meta == {**meta, "nan_loss": None}  # strict JSON
    assert set(got) == set(tensors)
    for k, v in tensors.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and torch.equal(got[k], v.detach()), k
    assert got["scalar"].dim() == 0 and got["rng"].dtype == torch.uint8
    g2 = torch.Generator()
    g2.set_state(got["rng"])
    assert torch.equal(torch.rand(6, generator=g2), expected_next)


def test_no_checkpoint_is_none(tmp_path):
    assert read_latest_checkpoint(tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    assert read_latest_checkpoint(tmp_path) is None


def test_keep_prunes_older(tmp_path):
    for s in (1, 2, 3, 4):
        write_checkpoint(tmp_path, s, {"x": torch.tensor(float(s))}, {"s": s}, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["latest", "step-0000003", "step-0000004"]
    write_checkpoint(tmp_path, 5, {"x": torch.tensor(5.0)}, {}, keep=1)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step-0000005"]
    # rewriting the same step (a resumed run) replaces it
    write_checkpoint(tmp_path, 5, {"x": torch.tensor(50.0)}, {"again": True}, keep=3)
    step, t, m = read_latest_checkpoint(tmp_path)
    assert step == 5 and t["x"].item() == 50.0 and m == {"again": True}
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]


def test_latest_fallback(tmp_path):
    for s in (1, 2, 3):
        write_checkpoint(tmp_path, s, {"x": torch.tensor(float(s))}, {"s": s}, keep=5)
    ckdir = tmp_path / "checkpoints"
    (ckdir / "latest").unlink()
    assert read_latest_checkpoint(tmp_path)[0] == 3
    (ckdir / "latest").write_text("step-0000009\n")  # points at a missing dir
    assert read_latest_checkpoint(tmp_path)[0] == 3
    (ckdir / "latest").write_text("step-0000002\n")  # latest is authoritative when valid
    assert read_latest_checkpoint(tmp_path)[2] == {"s": 2}
    # a leftover temp dir of a crashed write is never picked, and is cleaned up by the next write
    (ckdir / ".step-0000004.abc.tmp").mkdir()
    (ckdir / "latest").unlink()
    assert read_latest_checkpoint(tmp_path)[0] == 3
    write_checkpoint(tmp_path, 4, {"x": torch.tensor(4.0)}, {}, keep=5)
    assert not (ckdir / ".step-0000004.abc.tmp").exists()


def test_crash_during_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    write_checkpoint(tmp_path, 1, {"x": torch.tensor(1.0)}, {"s": 1})
    _fail_replace_on(monkeypatch, "step-0000002")
    with pytest.raises(OSError):
        write_checkpoint(tmp_path, 2, {"x": torch.tensor(2.0)}, {"s": 2})
    monkeypatch.undo()
    assert read_latest_checkpoint(tmp_path)[0] == 1
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step-0000001"]


def test_corrupt_checkpoint_raises(tmp_path):
    path = write_checkpoint(tmp_path, 3, {"x": torch.arange(10.0)}, {"s": 3})
    t = path / "tensors.safetensors"
    t.write_bytes(t.read_bytes()[:-8])
    with pytest.raises(CheckpointError, match="truncated") as info:
        read_latest_checkpoint(tmp_path)
    assert str(path) in str(info.value) and "incomplete or corrupt" in str(info.value)
    (path / "meta.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="meta.json is not valid JSON"):
        read_latest_checkpoint(tmp_path)


def test_checkpoint_bad_input(tmp_path):
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        write_checkpoint(tmp_path, 1, {}, {"t": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="not a torch.Tensor"):
        write_checkpoint(tmp_path, 1, {"x": [1, 2]}, {})
    with pytest.raises(CheckpointError, match="step must be"):
        write_checkpoint(tmp_path, -1, {}, {})
    with pytest.raises(CheckpointError, match="keep must be"):
        write_checkpoint(tmp_path, 1, {}, {}, keep=0)
    assert read_latest_checkpoint(tmp_path) is None
    write_checkpoint(tmp_path, 0, {}, {})  # empty tensors are fine
    assert read_latest_checkpoint(tmp_path) == (0, {}, {})
