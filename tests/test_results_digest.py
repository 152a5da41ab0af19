"""benchmarks/tools/results_digest.py: the digest of a finished grid, and its error on a folder that is not one."""

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "benchmarks" / "tools" / "results_digest.py"
RUN = Path(__file__).resolve().parents[1] / "docs" / "results" / "lodo_sentiment"


def _digest(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)


def test_digest_of_a_committed_grid_matches_its_summary():
    out = _digest(str(RUN), "--figures", "grad_norm_cv")
    assert out.returncode == 0, out.stderr
    summary = json.loads((RUN / "summary.json").read_text())
    avg = summary["per_k"]["16"]["average"]["finetune_lora"]
    assert f"{100 * avg['mean']:.1f} ({100 * avg['std']:.1f})" in out.stdout
    assert "**K = 4**" in out.stdout and "**K = 16**" in out.stdout


def test_digest_of_a_folder_without_summary_names_the_fix(tmp_path):
    out = _digest(str(tmp_path))
    assert out.returncode != 0
    assert "summary.json does not exist" in out.stderr and "sggft-bench aggregate" in out.stderr
    assert "Traceback" not in out.stderr


def test_pair_on_a_complete_grid_equals_the_grids_own_comparison():
    # on lodo_sentiment every method has every seed, so --pair against the grid's best other
    # method must print the same difference, counts and p as summary.json's comparison
    summary = json.loads((RUN / "summary.json").read_text())
    comp = summary["per_k"]["16"]["comparison"]
    out = _digest(str(RUN), "--figures", "", "--pair", f"{comp['focus']},{comp['against']}")
    assert out.returncode == 0, out.stderr
    k16 = out.stdout.split("**K = 16**")[1]
    line = next(x for x in k16.splitlines() if x.startswith(f"Paired {comp['focus']} - {comp['against']} over {comp['n']} "))
    assert f"{100 * comp['mean_diff']:+.2f} points" in line
    assert f"{comp['wins']} / {comp['ties']} / {comp['losses']}" in line and f"p = {comp['p_value']:.3g}" in line


def test_pair_counts_tasks_where_other_methods_are_missing(tmp_path):
    by = lambda vals: {"by_seed": dict(zip(["13", "21"], vals)), "mean": sum(vals) / 2, "std": 0.0, "n": len(vals)}  # noqa: E731
    empty = {"mean": None, "std": None, "n": 0}
    block = {"tasks": {"t1": {"scale": 100.0, "methods": {"a": by([0.6, 0.7]), "b": by([0.5, 0.5]), "c": by([0.1, 0.1])}},
                       "t2": {"scale": 100.0, "methods": {"a": by([0.4, 0.4]), "b": by([0.3, 0.4]), "c": empty}}},
             "complete_tasks": ["t1"], "average": {m: None for m in "abc"}, "comparison": None,
             "cost": {m: {"seconds_mean": None} for m in "abc"}}
    (tmp_path / "summary.json").write_text(json.dumps({"methods": ["a", "b", "c"], "seeds": [13, 21], "per_k": {"8": block}}))
    out = _digest(str(tmp_path), "--figures", "", "--pair", "a,b")
    assert out.returncode == 0, out.stderr
    # differences +0.1, +0.2, +0.1, 0 over (t1, t2): mean +0.1 -> +10.00 points, 3 / 1 / 0
    assert "Paired a - b over 4 task-seed pairs (t1, t2): +10.00 points, wins / ties / losses 3 / 1 / 0" in out.stdout
    bad = _digest(str(tmp_path), "--pair", "a,z")
    assert bad.returncode != 0 and "give two methods of the grid" in bad.stderr


def test_rows_methods_lists_each_method_over_the_tasks_that_have_cells(tmp_path):
    by = lambda vals, cv: {"by_seed": dict(zip(["13", "21"], vals)), "mean": sum(vals) / 2, "std": 0.0, "n": len(vals),  # noqa: E731
                           "grad_norm_cv": cv}
    empty = {"mean": None, "std": None, "n": 0}
    block = {"tasks": {"t1": {"scale": 100.0, "methods": {"a": by([0.6, 0.6], 1.0), "b": by([0.5, 0.5], 2.0)}},
                       "t2": {"scale": 100.0, "methods": {"a": by([0.4, 0.4], 3.0), "b": empty}},
                       "t3": {"scale": 100.0, "methods": {"a": empty, "b": empty}}},
             "complete_tasks": ["t1"], "average": {"a": {"mean": 0.6, "std": 0.0}, "b": {"mean": 0.5, "std": 0.0}},
             "comparison": None, "cost": {"a": {"seconds_mean": 12.0}, "b": {"seconds_mean": None}}}
    none = {"tasks": {"t1": {"scale": 100.0, "methods": {"a": empty, "b": empty}}}, "complete_tasks": [],
            "average": {"a": None, "b": None}, "comparison": None, "cost": {"a": {"seconds_mean": None}, "b": {"seconds_mean": None}}}
    (tmp_path / "summary.json").write_text(json.dumps({"methods": ["a", "b"], "seeds": [13, 21], "per_k": {"4": none, "8": block}}))
    out = _digest(str(tmp_path), "--figures", "grad_norm_cv", "--rows", "methods")
    assert out.returncode == 0, out.stderr
    assert "**K = 4**" not in out.stdout  # no finished cell at K = 4: no table
    # t3 has no cell: no column; the average is over the complete task t1 only
    # then a's own average over t1 and t2 (it has both seeds on both); b lacks t2: none
    assert ("| method | t1 | t2 | average (1 complete tasks) | average over t1, t2 (methods complete there) "
            "| grad_norm_cv | s / episode |") in out.stdout
    assert "| a | 60.0 (0.0) | 40.0 (0.0) | 60.0 (0.0) | 50.0 (0.0) | 2.00 | 12 |" in out.stdout  # figure averaged over t1, t2
    # b has the figure on t1 only: named, so its 2.00 is not read as comparable to a's over t1, t2
    assert "| b | 50.0 (0.0) | - | 50.0 (0.0) | - | 2.00 (t1) | - |" in out.stdout


def test_complete_only_keeps_a_partly_run_task_out_of_every_figure(tmp_path):
    # t2 is partly run (b lacks its seeds): with --complete-only its column, its figure, its seconds
    # and its pairs must all stay out, and it is named with its cell count
    by = lambda vals, cv, sec: {"by_seed": dict(zip(["13", "21"], vals)), "mean": sum(vals) / len(vals), "std": 0.0,  # noqa: E731
                                "n": len(vals), "grad_norm_cv": cv, "seconds": sec}
    block = {"tasks": {"t1": {"scale": 100.0, "methods": {"a": by([0.6, 0.8], 1.0, 10.0), "b": by([0.5, 0.5], 2.0, 30.0)}},
                       "t2": {"scale": 100.0, "methods": {"a": by([0.1, 0.1], 9.0, 500.0),
                                                          "b": {"by_seed": {"13": 0.0}, "mean": 0.0, "std": 0.0, "n": 1,
                                                                "grad_norm_cv": 5.0, "seconds": 700.0}}}},
             "complete_tasks": ["t1"], "average": {"a": {"mean": 0.7, "std": 0.1}, "b": {"mean": 0.5, "std": 0.0}},
             "comparison": None, "cost": {"a": {"seconds_mean": 255.0}, "b": {"seconds_mean": 253.3}}}
    (tmp_path / "summary.json").write_text(json.dumps({"methods": ["a", "b"], "seeds": [13, 21], "per_k": {"16": block}}))
    out = _digest(str(tmp_path), "--figures", "grad_norm_cv", "--rows", "methods", "--complete-only", "--pair", "a,b")
    assert out.returncode == 0, out.stderr
    assert "| method | t1 | average (1 complete tasks) | grad_norm_cv | s / episode |" in out.stdout
    assert "| a | 70.0 (0.0) | 70.0 (10.0) | 1.00 | 10 |" in out.stdout  # figure and seconds of t1 only
    assert "Partly run, not in this table: t2 (3 of 4 cells)" in out.stdout
    assert "Paired a - b over 2 task-seed pairs (t1): +20.00 points, wins / ties / losses 2 / 0 / 0" in out.stdout
    assert "Seconds per episode, mean: a 10, b 30" in out.stdout
    # without the flag the partly run task is in (the earlier behaviour)
    full = _digest(str(tmp_path), "--figures", "grad_norm_cv", "--rows", "methods")
    assert "| method | t1 | t2 |" in full.stdout and "a 255" in full.stdout
    assert "Paired a - b over 3 task-seed pairs (t1, t2)" in _digest(str(tmp_path), "--rows", "methods", "--pair", "a,b").stdout
    bad = _digest(str(tmp_path), "--complete-only")
    assert bad.returncode != 0 and "--complete-only goes with --rows methods" in bad.stderr
    # a summary from before per-task seconds: the error names the fix
    for info in block["tasks"].values():
        for row in info["methods"].values():
            row.pop("seconds")
    (tmp_path / "summary.json").write_text(json.dumps({"methods": ["a", "b"], "seeds": [13, 21], "per_k": {"16": block}}))
    old = _digest(str(tmp_path), "--rows", "methods", "--complete-only")
    assert old.returncode != 0 and "sggft-bench aggregate" in old.stderr and "Traceback" not in old.stderr


def test_rows_methods_averages_a_row_over_its_tasks_when_no_task_is_complete(tmp_path):
    # no task has every method's seeds, so there is no grid average; a has both seeds on t1 and t2:
    # its own average is over seeds of the task-averaged metric (0.5, 0.8 -> 65.0, std 15.0), not the
    # mean of the per-task stds; b has one seed on t2 and gets none
    by = lambda vals: {"by_seed": dict(zip(["13", "21"], vals)), "mean": sum(vals) / len(vals), "std": 0.0, "n": len(vals)}  # noqa: E731
    block = {"tasks": {"t1": {"scale": 100.0, "methods": {"a": by([0.6, 0.8]), "b": by([0.5, 0.7])}},
                       "t2": {"scale": 100.0, "methods": {"a": by([0.4, 0.8]), "b": by([0.3])}}},
             "complete_tasks": [], "average": {"a": None, "b": None}, "comparison": None,
             "cost": {"a": {"seconds_mean": 10.0}, "b": {"seconds_mean": 20.0}}}
    (tmp_path / "summary.json").write_text(json.dumps({"methods": ["a", "b"], "seeds": [13, 21], "per_k": {"16": block}}))
    out = _digest(str(tmp_path), "--figures", "", "--rows", "methods")
    assert out.returncode == 0, out.stderr
    assert "| method | t1 | t2 | average over t1, t2 (methods complete there) | s / episode |" in out.stdout
    assert "| a | 70.0 (0.0) | 60.0 (0.0) | 65.0 (15.0) | 10 |" in out.stdout
    assert "| b | 60.0 (0.0) | 30.0 (0.0) [1/2] | - | 20 |" in out.stdout
