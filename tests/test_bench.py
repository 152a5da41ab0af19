"""Benchmark harness: grid validation, resumable runner, error records, paired test, aggregation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sggft_bench import BENCH_METHODS, aggregate, load_grid, paired_sign_flip, parse_grid, run_grid
from sggft_bench import runner as bench_runner
from sggft_bench.cli import main
from sggft_meta.errors import ConfigError
from sggft_meta.report import fmt_mean_std


def _grid(tiny_bert_dir: Path, task: Path, **extra) -> dict:
    tree = {
        "name": "tiny",
        "tasks": [str(task)],
        "shots": [4],
        "seeds": [13, 21],
        "base": [f"model.name={tiny_bert_dir}", "data.max_length=32", "train.max_steps=3", "train.eval_every=3",
                 "model.lora.targets=[query,value]", "model.device=cpu", "eval.batch_size=64"],
        "focus": "sggft",
        "methods": {
            "lora": {"kind": "run", "overrides": ["method=finetune", "model.adapt=lora"]},
            "sggft": {"kind": "run", "overrides": ["method=sggft", "sggft.mode=surgery", "model.adapt=lora"]},
        },
    }
    tree.update(extra)
    return tree


def _cells(out: Path) -> list[Path]:
    return sorted((out / "cells").glob("*/*/k*/seed*.json"))


def _count_calls(monkeypatch) -> list:
    """Wrap the `run` kind so that calls are counted (the wrapper keeps the real behaviour)."""
    calls = []
    real = BENCH_METHODS.get("run")

    def counting(cell, ctx):
        calls.append(cell.label)
        return real(cell, ctx)

    monkeypatch.setitem(BENCH_METHODS._items, "run", counting)
    return calls


def test_grid_runs_resumes_and_redoes_one_cell(tiny_bert_dir, polarity_folder, tmp_path, monkeypatch):
    grid = parse_grid(_grid(tiny_bert_dir, polarity_folder))
    out = tmp_path / "out"
    calls = _count_calls(monkeypatch)
    loads = []
    real_backbone = bench_runner.Context.backbone

    def backbone(self, cfg):
        before = self.backbone_loads
        result = real_backbone(self, cfg)
        loads.append(self.backbone_loads - before)
        return result

    monkeypatch.setattr(bench_runner.Context, "backbone", backbone)
    lines = []
    run = run_grid(grid, out, log=lines.append)
    assert (run.ran, run.skipped, run.failed) == (4, 0, [])
    files = _cells(out)
    assert [f.relative_to(out).as_posix() for f in files] == [
        "cells/lora/polarity/k4/seed13.json", "cells/lora/polarity/k4/seed21.json",
        "cells/sggft/polarity/k4/seed13.json", "cells/sggft/polarity/k4/seed21.json"]
    assert len(calls) == 4 and len(lines) == 4
    assert sum(loads) == 1  # both methods share a model config: one load for the whole grid
    rec = json.loads(files[2].read_text())
    assert rec["status"] == "ok" and rec["method"] == "sggft" and rec["task"] == "polarity" and rec["shots"] == 4 and rec["seed"] == 13
    assert 0.0 <= rec["test_metric"] <= 1.0 and rec["metric"] == "accuracy" and rec["seconds"] > 0
    assert rec["steps"] >= 1 and "grad_norm_cv" in rec["trace"] and len(rec["per_step"]["grad_norm"]) == rec["steps"]
    assert rec["backbone"] and rec["machine"]["cpu"] and "commit" in rec and rec["command"]
    assert rec["run_metadata"]["config"]["seeds"] == [13] and rec["run_metadata"]["config"]["method"] == "sggft"
    assert rec["started_at"] <= rec["finished_at"] and "peak_memory_bytes" in rec

    # Everything finished: a second run calls no method at all.
    calls.clear()
    run = run_grid(grid, out, log=lines.append)
    assert (run.ran, run.skipped) == (0, 4) and calls == []

    # One record gone: exactly that cell is redone, with the same result (cells do not depend on order).
    before = json.loads(files[3].read_text())
    files[3].unlink()
    run = run_grid(grid, out, log=lambda line: None)
    assert (run.ran, run.skipped) == (1, 3) and calls == ["sggft/polarity/k4/seed21"]
    again = json.loads(files[3].read_text())
    assert again["test_metric"] == before["test_metric"] and again["trace"]["steps"] == before["trace"]["steps"]

    # Aggregating real records: the method table, the gradient-norm CV from the traces, the comparison.
    summary = aggregate(out)
    md = (out / "results.md").read_text()
    assert "| lora | run | `model.name=" in md and "**average** (1 task)" in md and (out / "metric_vs_k.png").is_file()
    assert summary["per_k"]["4"]["comparison"]["against"] == "lora" and summary["per_k"]["4"]["comparison"]["n"] == 2
    assert summary["per_k"]["4"]["tasks"]["polarity"]["methods"]["sggft"]["grad_norm_cv"] is not None

    # A changed method definition does not silently reuse the old cells.
    changed = _grid(tiny_bert_dir, polarity_folder)
    changed["methods"]["lora"]["overrides"].append("train.lr=5e-4")
    with pytest.raises(ConfigError, match="different definition.*lora"):
        run_grid(parse_grid(changed), out, log=lambda line: None)


def test_failed_cell_is_recorded_and_the_grid_goes_on(tiny_bert_dir, polarity_folder, tmp_path, capsys):
    def flaky(cell, ctx):
        if cell.seed == 13:
            raise RuntimeError("boom on purpose")
        return {"test_metric": 0.5 + cell.seed / 1000, "seconds": 0.01, "trace": {"grad_norm_cv": 0.2}}

    BENCH_METHODS.register("flaky_test", flaky)
    try:
        tree = _grid(tiny_bert_dir, polarity_folder)
        tree["methods"] = {"flaky": {"kind": "flaky_test"}, "steady": {"kind": "flaky_test", "options": {"x": 1}}}
        tree["focus"] = None
        tree["seeds"] = [13, 21, 42]
        out = tmp_path / "out"
        run = run_grid(parse_grid(tree), out, log=lambda line: None)
        assert run.ran == 4 and sorted(run.failed) == ["flaky/polarity/k4/seed13", "steady/polarity/k4/seed13"]
        rec = json.loads((out / "cells/flaky/polarity/k4/seed13.json").read_text())
        assert rec["status"] == "error" and rec["error"] == "RuntimeError: boom on purpose" and "Traceback" in rec["traceback"]
        assert json.loads((out / "cells/flaky/polarity/k4/seed42.json").read_text())["status"] == "ok"
        summary = aggregate(out, plots=False)
        assert summary["cells"] == {"expected": 6, "ok": 4, "errors": 2, "missing": 0, "ignored": 0}
        assert "- failed: flaky/polarity/k4/seed13: RuntimeError: boom on purpose" in (out / "results.md").read_text()

        # The command line: run + aggregate, exit status 1 because cells failed; a second run retries only those.
        grid_file = tmp_path / "g.yaml"
        grid_file.write_text(yaml.safe_dump(tree))
        assert main(["run", str(grid_file), "--out", str(tmp_path / "cli")]) == 1
        assert "4 cells run, 0 skipped (done earlier), 2 failed, of 6" in capsys.readouterr().out
        assert (tmp_path / "cli" / "results.md").is_file() and (tmp_path / "cli" / "seconds_per_episode.png").is_file()
        assert main(["run", str(grid_file), "--out", str(tmp_path / "cli")]) == 1
        assert "0 cells run, 4 skipped (done earlier), 2 failed, of 6" in capsys.readouterr().out

        with pytest.raises(RuntimeError, match="boom"):  # --fail-fast stops at the first failure
            run_grid(parse_grid(tree), tmp_path / "fast", fail_fast=True, log=lambda line: None)
        assert len(_cells(tmp_path / "fast")) == 1
    finally:
        BENCH_METHODS.unregister("flaky_test")


def test_paired_sign_flip_exact_and_monte_carlo():
    t = paired_sign_flip([0.9, 0.8, 0.7, 0.85, 0.6], [0.8, 0.7, 0.6, 0.8, 0.5])
    assert t.method == "exact" and t.flips == 32 and t.p_value == pytest.approx(2 / 32)
    assert (t.wins, t.ties, t.losses) == (5, 0, 0) and t.mean_diff == pytest.approx(0.09)
    # differences +1, +2, -3: sign assignments with |sum| >= 0 are all 8 -> p = 1
    assert paired_sign_flip([1, 2, 0], [0, 0, 3]).p_value == 1.0
    # +1, +1, +1, -1, 0: |sum| = 2; of the 16 signings of the four ±1, 10 have |sum| >= 2 (the zero doubles both counts)
    t = paired_sign_flip([1, 1, 1, 0, 5], [0, 0, 0, 1, 5])
    assert t.p_value == pytest.approx(10 / 16) and (t.wins, t.ties, t.losses) == (3, 1, 1)
    # 25 pairs: Monte-Carlo, seeded (the same p twice), close to the exact value 2 / 2**25 floor
    a, b = [1.0] * 25, [0.0] * 25
    t1, t2 = paired_sign_flip(a, b), paired_sign_flip(a, b)
    assert t1.method == "monte-carlo" and t1.flips == 100_000 and t1.p_value == t2.p_value == pytest.approx(1 / 100_001)
    assert paired_sign_flip([], []).n == 0


def _fake_cells(out: Path, methods: dict, tasks: list[str], shots: list[int], seeds: list[int], skip=()) -> None:
    """Hand-written records (as the runner writes them) and a manifest."""
    for m, base in methods.items():
        for ti, t in enumerate(tasks):
            for k in shots:
                for si, s in enumerate(seeds):
                    if (m, t, k, s) in skip:
                        continue
                    value = base + 0.01 * ti + 0.002 * si + 0.001 * k
                    rec = {"status": "ok", "method": m, "task": t, "shots": k, "seed": s, "metric": "accuracy",
                           "test_metric": value, "seconds": 1.0 + len(m) / 10,
                           "trace": {"grad_norm_cv": base, "cos_consecutive": base / 2, "path_length": 10 * base},
                           "per_step": {"grad_norm": [1.0 + si, 2.0 + si, 3.0 + si][: 2 + si % 2]},
                           "peak_memory_bytes": None, "peak_rss_bytes": 300 * 2**20, "backbone": "tiny", "commit": "abc1234",
                           "machine": {"cpu": "test cpu"}, "command": "sggft-bench run g.yaml --out o"}
                    path = out / "cells" / m / t / f"k{k}" / f"seed{s}.json"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(rec))
    (out / "manifest.json").write_text(json.dumps({"name": "fake", "focus": None, "methods": list(methods), "tasks": tasks,
                                                   "shots": shots, "seeds": seeds}))


def test_aggregate_tables_average_comparison_and_plots(tmp_path):
    out = tmp_path / "out"
    seeds = [13, 21, 42, 87, 100]
    _fake_cells(out, {"sggft": 0.80, "lora": 0.75, "full": 0.70}, ["t1", "t2", "t3"], [4, 8], seeds, skip={("full", "t3", 8, 42)})
    assert main(["aggregate", str(out), "--focus", "sggft"]) == 0
    md = (out / "results.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    for png in ("metric_vs_k.png", "metric_per_method.png", "grad_norm_cv.png", "seconds_per_episode.png", "grad_norm_over_steps.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "### Mean cosine of consecutive gradients" in md and "### Update-path length" in md
    assert "source direction" not in md  # no method has cos_source: no empty table
    assert "## K = 4" in md and "## K = 8" in md and "**average** (3 tasks)" in md and "**average** (2 tasks)" in md
    assert "Left out of the average (a method lacks a seed): t3." in md and "- missing: full/t3/k8/seed42" in md
    assert "[4/5]" in md  # full on t3 at K=8 has 4 of 5 seeds
    k4 = summary["per_k"]["4"]
    # average over tasks t1..t3 of sggft at K=4: 0.80 + 0.01 * mean(0,1,2) + 0.002 * mean(0..4) + 0.004
    assert k4["average"]["sggft"]["mean"] == pytest.approx(0.80 + 0.01 + 0.004 + 0.004)
    assert k4["average"]["sggft"]["std"] == pytest.approx(0.002 * 2 ** 0.5)  # population std over seeds of 0,2,4,6,8 thousandths
    assert k4["tasks"]["t1"]["methods"]["lora"]["grad_norm_cv"] == pytest.approx(0.75)
    assert k4["average"]["sggft"]["path_length"] == pytest.approx(8.0)
    assert k4["average"]["lora"]["cos_consecutive"] == pytest.approx(0.375)
    # per-step curves: 15 sggft episodes at K=4 (3 tasks x 5 seeds); seeds 21 and 87 have 3 steps, the others 2
    curve = k4["steps"]["sggft"]
    assert curve["n"] == [15, 15, 6]
    assert curve["median"][0] == pytest.approx(3.0) and curve["median"][2] == pytest.approx(5.0)  # ||g_3||: 4 (seed 21), 6 (seed 87)
    # running CV at step 2 of seed 13: std/mean of (1, 2) = 1/3
    assert min(curve["running_cv"][1:2]) <= 1 / 3 + 1e-12 and curve["running_cv"][0] is None
    comp = k4["comparison"]
    assert comp["against"] == "lora" and comp["n"] == 15 and comp["wins"] == 15 and comp["method"] == "exact"
    assert comp["p_value"] == pytest.approx(2 / 2**15) and comp["mean_diff"] == pytest.approx(0.05)
    assert summary["per_k"]["8"]["comparison"]["n"] == 10  # t3 left out at K=8
    assert "| sggft | lora | 15 | +5.00 | 15 / 0 / 0 |" in md
    assert summary["provenance"]["backbones"] == ["tiny"] and summary["provenance"]["commits"] == ["abc1234"]

    # unknown focus: one clear line, exit 2
    assert main(["aggregate", str(out), "--focus", "sgft"]) == 2


def test_comparison_against_named_baselines_only(tmp_path, capsys):
    # the best method by average is an ablation of the focus ("sggft_mag"); the comparison with
    # `against` must pick the best of the baselines named, not the ablation
    out = tmp_path / "out"
    _fake_cells(out, {"sggft": 0.78, "sggft_mag": 0.85, "lora": 0.75, "full": 0.70}, ["t1", "t2"], [4], [13, 21, 42])
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "focus": "sggft", "against": ["lora", "full"]}))
    assert main(["aggregate", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    comp = summary["per_k"]["4"]["comparison"]
    assert comp["against"] == "lora" and comp["pool"] == ["lora", "full"] and comp["mean_diff"] == pytest.approx(0.03)
    md = (out / "results.md").read_text()
    assert "Against the best by average of: lora, full." in md and "| sggft | lora | 6 | +3.00 |" in md
    # without the pool (another focus named on the command line) the best other method is the ablation
    assert main(["aggregate", str(out), "--focus", "lora"]) == 0
    assert json.loads((out / "summary.json").read_text())["per_k"]["4"]["comparison"]["against"] == "sggft_mag"
    # --against on the command line overrides the run's pool; a wrong name is one clear line
    assert main(["aggregate", str(out), "--against", "full"]) == 0
    assert json.loads((out / "summary.json").read_text())["per_k"]["4"]["comparison"]["against"] == "full"
    capsys.readouterr()
    assert main(["aggregate", str(out), "--against", "lroa"]) == 2
    assert "--against 'lroa' is not a method of this run; did you mean 'lora'?" in capsys.readouterr().err
    assert main(["aggregate", str(out), "--against", "sggft"]) == 2
    assert "--against 'sggft' is the focus itself" in capsys.readouterr().err
    # an empty list is refused, not read as "every other method"
    with pytest.raises(SystemExit) as exit_info:
        main(["aggregate", str(out), "--against", ","])
    assert exit_info.value.code == 2
    assert "--against takes comma-separated method names like finetune_lora,reptile, got ','" in capsys.readouterr().err


def test_per_k_average_table_keeps_unscaled_metrics_unscaled(tmp_path):
    # t2 reports an unbounded metric (mse): no average over t1 and t2 may be printed x100
    out = tmp_path / "out"
    _fake_cells(out, {"sggft": 0.80, "lora": 0.75}, ["t1", "t2"], [4, 8], [13, 21])
    for f in (out / "cells").glob("*/t2/*/*.json"):
        rec = json.loads(f.read_text())
        f.write_text(json.dumps({**rec, "metric": "mse"}))
    assert main(["aggregate", str(out)]) == 0
    md = (out / "results.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    per_k = md.split("## Average over tasks, per K")[1].split("##")[0]
    entry = summary["per_k"]["4"]["average"]["sggft"]
    assert 0.8 < entry["mean"] < 0.9
    row = next(line for line in per_k.splitlines() if line.startswith("| sggft"))
    assert fmt_mean_std(entry["mean"], entry["std"], 1.0) in row and fmt_mean_std(entry["mean"], entry["std"]) not in row


@pytest.mark.parametrize("tree, message", [
    ({"tasks": ["demo_product_reviews"], "shots": [4], "methods": {"a": {"kind": "rnu"}}},
     "methods.a.kind: unknown bench method kind 'rnu'. Did you mean 'run'?"),
    ({"tasks": ["demo_product_reviews"], "shots": [4], "methods": {"a": {"kind": "run", "overides": []}}},
     "methods.a.overides: unknown field"),
    ({"tasks": ["demo_product_reviews"], "shots": [4], "methods": {"a": {"kind": "run", "overrides": ["train.lr=fast"]}}},
     "methods.a: overrides: invalid configuration: train.lr: Input should be a valid number"),
    ({"tasks": ["demo_product_reviews"], "shots": [4], "methods": {"a": {"kind": "run", "overrides": ["shots=8"]}}},
     "methods.a.overrides: shots is set by the grid"),
    ({"tasks": ["demo_product_reviewz"], "shots": [4], "methods": {"a": {"kind": "run"}}},
     "tasks: unknown task 'demo_product_reviewz'"),
    ({"tasks": ["demo_product_reviews"], "shots": [0], "methods": {"a": {"kind": "run"}}},
     "shots.0: Input should be greater than or equal to 1"),
    ({"tasks": ["demo_product_reviews"], "shots": [4], "methods": {"a": {"kind": "run"}}, "focus": "b"},
     "focus 'b' is not a method of the grid"),
    ({"tasks": ["demo_product_reviews"], "shots": [4], "methods": {"a": {"kind": "run"}, "bb": {"kind": "run"}},
      "focus": "a", "against": ["b"]},
     "against: 'b' is not a method of the grid; did you mean 'bb'?"),
    ({"tasks": ["demo_product_reviews"], "shots": [4], "methods": {"a": {"kind": "run"}, "b": {"kind": "run"}}, "against": ["b"]},
     "against needs a focus"),
    ({"tasks": ["demo_product_reviews"], "shots": [4], "methods": {"a": {"kind": "run"}, "b": {"kind": "run"}},
      "focus": "a", "against": ["a"]},
     "against: 'a' is the focus itself"),
])
def test_bad_grid_is_one_clear_error(tmp_path, capsys, tree, message):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError) as e:
        load_grid(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sggft-bench: error: grid ") and message in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_bad_yaml_and_missing_file(tmp_path, capsys):
    path = tmp_path / "g.yaml"
    path.write_text("tasks: [sst2\nshots: 4\n")
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


GRIDS = Path(__file__).resolve().parents[1] / "benchmarks" / "grids"


def test_example_grid_is_valid():
    grid = load_grid(GRIDS / "example.yaml")
    assert all(t.startswith("demo_") for t in grid.tasks) and {"run"} <= {m.kind for m in grid.methods.values()}


@pytest.mark.parametrize("name", sorted(p.name for p in GRIDS.glob("*.yaml")))
def test_every_shipped_grid_is_valid(name):
    """The published grids load: kinds, options and every method's RunConfig overrides validate."""
    grid = load_grid(GRIDS / name)
    assert grid.methods and grid.tasks and grid.shots and grid.seeds


def test_baselines_grid_has_every_baseline_and_ablation():
    grid = load_grid(GRIDS / "baselines.yaml")
    kinds = {name: m.kind for name, m in grid.methods.items()}
    assert {kinds[m] for m in ("maml", "fomaml", "reptile")} == {"meta_init"} and kinds["setfit"] == "setfit"
    assert {"finetune_full", "finetune_lora", "pcgrad", "gradvac", "sggft_none", "sggft_dir", "sggft_mag",
            "sggft_align", "sggft_all"} <= set(kinds)
    assert len(grid.tasks) >= 10 and grid.shots == [8, 16] and len(grid.seeds) == 5


def test_setfit_kind_runs_one_seed(tiny_bert_dir, polarity_folder, tmp_path):
    pytest.importorskip("setfit")
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    body = tmp_path / "tiny_st"
    SentenceTransformer(modules=[Transformer(str(tiny_bert_dir), max_seq_length=32), Pooling(16, "mean")], device="cpu").save(str(body))
    tree = _grid(tiny_bert_dir, polarity_folder, seeds=[13], focus=None)
    tree["methods"] = {"setfit": {"kind": "setfit", "options": {"body": str(body), "num_iterations": 2}}}
    run = run_grid(parse_grid(tree), tmp_path / "out", log=lambda line: None)
    assert run.ran == 1 and run.ok
    rec = json.loads((tmp_path / "out/cells/setfit/polarity/k4/seed13.json").read_text())
    assert rec["status"] == "ok" and 0.0 <= rec["test_metric"] <= 1.0 and rec["seconds"] > 0 and rec["metric"] == "accuracy"
    assert rec["backbone"] == str(body) and rec["setfit"]["settings"]["num_iterations"] == 2 and rec["setfit"]["seed"]["seed"] == 13

    bad = dict(tree, methods={"setfit": {"kind": "setfit", "options": {"num_iteration": 2}}})
    with pytest.raises(ConfigError, match="methods.setfit: unknown SetFit override 'num_iteration'; did you mean num_iterations"):
        parse_grid(bad)


def test_unserialisable_record_becomes_an_error_record(tiny_bert_dir, polarity_folder, tmp_path):
    BENCH_METHODS.register("odd_test", lambda cell, ctx: {"test_metric": 0.5, "seconds": 0.1, "trace": None, "blob": object()})
    try:
        tree = _grid(tiny_bert_dir, polarity_folder, seeds=[13], focus=None)
        tree["methods"] = {"odd": {"kind": "odd_test"}}
        run = run_grid(parse_grid(tree), tmp_path / "out", log=lambda line: None)
        assert run.failed == ["odd/polarity/k4/seed13"]
        rec = json.loads((tmp_path / "out/cells/odd/polarity/k4/seed13.json").read_text())
        assert rec["status"] == "error" and "not JSON-serialisable" in rec["error"] and rec["seed"] == 13
    finally:
        BENCH_METHODS.unregister("odd_test")


def test_shards_split_a_grid_without_overlap(tiny_bert_dir, polarity_folder, tmp_path, monkeypatch, capsys):
    """`--shard I/N`: N processes on one --out run disjoint cells that together make the grid."""
    ran = []

    def fake(cell, ctx):
        ran.append(cell.label)
        return {"test_metric": 0.5, "seconds": 0.1}

    monkeypatch.setitem(BENCH_METHODS._items, "run", fake)
    grid = parse_grid(_grid(tiny_bert_dir, polarity_folder, seeds=[13, 21, 42]))
    out = tmp_path / "out"
    first = run_grid(grid, out, shard=(1, 2), log=lambda line: None)
    mine = list(ran)
    second = run_grid(grid, out, shard=(2, 2), log=lambda line: None)
    assert (first.total, second.total) == (3, 3) and len(ran) == 6 and len(set(ran)) == 6
    assert not set(mine) & set(ran[len(mine):]) and len(_cells(out)) == 6
    ran.clear()
    assert run_grid(grid, out, log=lambda line: None).skipped == 6 and ran == []
    for bad in ("3/2", "0/2", "x"):
        with pytest.raises(ConfigError, match="--shard"):
            bench_runner.parse_shard(bad)
    assert main(["run", "nope.yaml", "--out", str(out), "--shard", "2/1"]) != 0
    assert "--shard 2/1" in capsys.readouterr().err


def test_tasks_filter_runs_only_those_tasks(tiny_bert_dir, polarity_folder, tmp_path, monkeypatch):
    ran = []
    monkeypatch.setitem(BENCH_METHODS._items, "run", lambda cell, ctx: ran.append(cell.label) or {"test_metric": 0.5, "seconds": 0.1})
    tree = _grid(tiny_bert_dir, polarity_folder)
    tree["tasks"] = [str(polarity_folder), "demo_product_reviews"]
    grid = parse_grid(tree)
    out = tmp_path / "out"
    run = run_grid(grid, out, only_tasks=["polarity"], log=lambda line: None)
    assert run.total == 4 and all("/polarity/" in c for c in ran)
    summary = aggregate(out, plots=False)
    assert summary["cells"]["missing"] == 4  # the other task's cells are missing, not forgotten
    with pytest.raises(ConfigError, match="--tasks sst2: not a task of grid"):
        run_grid(grid, out, only_tasks=["sst2"], log=lambda line: None)
    with pytest.raises(ConfigError, match="--tasks sst2: not a task of grid"):
        run_grid(grid, tmp_path / "fresh", only_tasks=["sst2"], log=lambda line: None)
    assert not (tmp_path / "fresh").exists()  # a bad filter writes nothing
    ran.clear()
    run = run_grid(grid, out, only_methods=["sggft"], log=lambda line: None)
    assert run.total == 4 and run.skipped == 2 and all(c.startswith("sggft/demo_product_reviews/") for c in ran)
    with pytest.raises(ConfigError, match="--methods lroa: not a method of grid"):
        run_grid(grid, out, only_methods=["lroa"], log=lambda line: None)


def test_shots_filter_runs_only_those_k(tiny_bert_dir, polarity_folder, tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setitem(BENCH_METHODS._items, "run", lambda cell, ctx: ran.append(cell) or {"test_metric": 0.5, "seconds": 0.1})
    tree = _grid(tiny_bert_dir, polarity_folder)
    tree["shots"] = [2, 4]
    grid = parse_grid(tree)
    out = tmp_path / "out"
    run = run_grid(grid, out, only_shots=[4], log=lambda line: None)
    assert run.total == len(ran) == 4 and {c.shots for c in ran} == {4}
    assert aggregate(out, plots=False)["cells"]["missing"] == 4  # the K=2 cells stay missing
    with pytest.raises(ConfigError, match=r"--shots 8: not a shot of grid .*\(its shots: 2, 4\)"):
        run_grid(grid, out, only_shots=[8], log=lambda line: None)
    with pytest.raises(SystemExit):  # argparse: usage line and the message, exit status 2
        main(["run", "g.yaml", "--out", str(out), "--shots", "8,x"])
    assert "--shots takes comma-separated K values" in capsys.readouterr().err


@pytest.mark.parametrize("flag, what", [("--tasks", "task names like sst2,rte"),
                                         ("--methods", "method names like finetune_lora,sggft_all")])
def test_run_name_filters_strip_spaces_and_refuse_an_empty_list(flag, what, tmp_path, monkeypatch, capsys):
    import sggft_bench as bench

    seen = {}

    def fake_run_grid(grid, out, **kw):
        seen.update(kw)
        raise SystemExit(0)

    monkeypatch.setattr(bench, "load_grid", lambda path: None)
    monkeypatch.setattr(bench, "run_grid", fake_run_grid)
    with pytest.raises(SystemExit):
        main(["run", "g.yaml", "--out", str(tmp_path), flag, " a , b,"])
    assert seen["only_tasks" if flag == "--tasks" else "only_methods"] == ["a", "b"]
    # "," must not be read as "no filter" (every task or method of the grid)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "g.yaml", "--out", str(tmp_path), flag, ","])
    assert exit_info.value.code == 2
    assert f"{flag} takes comma-separated {what}, got ','" in capsys.readouterr().err


def test_reuse_copies_cells_of_the_same_definition(tiny_bert_dir, polarity_folder, tmp_path, monkeypatch):
    ran = []
    monkeypatch.setitem(BENCH_METHODS._items, "run",
                        lambda cell, ctx: ran.append(cell.label) or {"test_metric": 0.5 + cell.seed / 1000, "seconds": 0.1})
    first = _grid(tiny_bert_dir, polarity_folder)
    run_grid(parse_grid(first), tmp_path / "a", log=lambda line: None)
    assert len(ran) == 4
    ran.clear()
    second = _grid(tiny_bert_dir, polarity_folder, name="second", reuse=[str(tmp_path / "a")], focus="plain")
    second["methods"] = {"plain": first["methods"]["lora"],  # same definition under another name: copied
                         "other": {"kind": "run", "overrides": ["method=finetune", "model.adapt=head"]}}  # computed
    run = run_grid(parse_grid(second), tmp_path / "b", log=lambda line: None)
    assert (run.reused, run.ran) == (2, 2) and all(label.startswith("other/") for label in ran)
    rec = json.loads((tmp_path / "b" / "cells" / "plain" / "polarity" / "k4" / "seed21.json").read_text())
    assert rec["method"] == "plain" and rec["grid"] == "second" and rec["reused_grid"] == "tiny"
    assert rec["test_metric"] == pytest.approx(0.521) and rec["reused_from"].endswith("cells/lora/polarity/k4/seed21.json")
    summary = aggregate(tmp_path / "b", plots=False)
    assert summary["cells"]["ok"] == 4
    typo = _grid(tiny_bert_dir, polarity_folder, reuse=[str(tmp_path / "nope")])
    with pytest.raises(ConfigError, match="reuse: .*nope is not the --out folder of a bench run"):
        run_grid(parse_grid(typo), tmp_path / "c", log=lambda line: None)
    assert not (tmp_path / "c").exists()
    (tmp_path / "archives").mkdir()  # a run whose cells were archived: the error says how to unpack them
    (tmp_path / "archives" / "old.tar.xz").write_bytes(b"")
    packed = _grid(tiny_bert_dir, polarity_folder, reuse=[str(tmp_path / "old")])
    with pytest.raises(ConfigError, match=rf"its cells are archived: tar -xJf {tmp_path}/archives/old.tar.xz -C {tmp_path}$"):
        run_grid(parse_grid(packed), tmp_path / "d", log=lambda line: None)


def test_method_whose_package_is_missing_blocks_only_itself(tiny_bert_dir, polarity_folder, tmp_path, monkeypatch):
    """A grid with SetFit loads where setfit is not installed; the other methods run; SetFit refuses."""
    from sggft_bench import setfit_runner
    from sggft_meta.errors import MissingPackageError

    def missing():
        raise MissingPackageError("the SetFit baseline needs the `setfit` package, which is not importable; install it with: pip x")

    monkeypatch.setattr(setfit_runner, "_import_setfit", missing)
    ran = []
    monkeypatch.setitem(BENCH_METHODS._items, "run", lambda cell, ctx: ran.append(cell.label) or {"test_metric": 0.5, "seconds": 0.1})
    tree = _grid(tiny_bert_dir, polarity_folder)
    tree["methods"]["setfit"] = {"kind": "setfit"}
    grid = parse_grid(tree)
    assert list(grid.unavailable) == ["setfit"]
    out = tmp_path / "out"
    for only in (None, ["setfit", "lora"]):
        with pytest.raises(ConfigError, match=r"methods.setfit: the SetFit baseline needs .*pip x; or run the other methods alone: --methods lora,sggft"):
            run_grid(grid, out, only_methods=only, log=lambda line: None)
    for i in (1, 2, 3, 4):  # each shard refuses, also one whose share has no SetFit cell
        with pytest.raises(ConfigError, match="methods.setfit: the SetFit baseline needs"):
            run_grid(grid, out, shard=(i, 4), log=lambda line: None)
    assert not out.exists() and not ran  # refused before anything was written or run
    run = run_grid(grid, out, only_methods=["lora", "sggft"], log=lambda line: None)
    assert run.ran == 4 and len(ran) == 4


def test_line_plots_tell_fourteen_methods_apart():
    from sggft_bench.aggregate import method_styles

    methods = [f"m{i}" for i in range(14)]
    styles = method_styles(methods)
    assert len({(s["color"], s["marker"]) for s in styles.values()}) == 14
    assert len({s["color"] for s in styles.values()}) == 14  # not the 10-colour default cycle
