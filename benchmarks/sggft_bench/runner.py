"""Run a grid, one cell at a time, resumably.

Each cell's record is written atomically to `OUT/cells/<method>/<task>/k<K>/seed<S>.json` as
soon as the cell ends, so a killed run loses at most the cell in progress. On a new run, a cell
whose record says `status: ok` and whose method definition (kind, overrides, options) is
unchanged is skipped; error records are retried; a finished cell made with a different
definition stops the run before anything is computed (use another OUT, or delete that method's
folder to redo it).

Backbones are loaded once per distinct model config (`model` section and `data.max_length`):
cells are run grouped by that config, and the adaptable weights are reset to the freshly loaded
state before every cell. Global RNGs are seeded with the cell's seed, so a cell gives the same
record whether it runs in a full grid or alone after a resume.
"""

from __future__ import annotations

import gc
import json
import os
import random
import shlex
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from sggft_meta.errors import ConfigError
from .heap import release_freed_memory
from sggft_meta.report import git_commit, machine, write_json_atomic
from .aggregate import MANIFEST
from .grid import Cell, Grid, cells as grid_cells, dump_grid
from .methods import BENCH_METHODS

GRID_COPY = "grid.yaml"
RECORD_VERSION = 1


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Context:
    """What a bench method function gets besides its cell: the grid, the output folder, the data
    folder (None: $SGGFT_DATA_DIR or the hub), the command line, a logger, and a backbone cache."""

    grid: Grid
    out: Path
    data_dir: str | None = None
    command: str | None = None
    log: Callable[[str], None] = _stderr
    backbone_loads: int = 0  # how many times a backbone was loaded (tests pin load-once)
    _key: str | None = field(default=None, repr=False)
    _backbone: object = field(default=None, repr=False)
    _pristine: dict | None = field(default=None, repr=False)

    def run_config(self, cell: Cell, overrides: list[str] | tuple[str, ...] = ()):
        """The cell's RunConfig: task, K, its one seed, no progress bars, the data folder, then
        the grid's base and the method's overrides, then `overrides`."""
        from sggft_meta.config import load_config

        base = {"task": cell.task, "shots": cell.shots, "seeds": [cell.seed], "progress": False}
        if self.data_dir is not None:
            base["data"] = {"dir": str(self.data_dir)}
        return load_config(None, [*cell.overrides, *overrides], base=base)

    @staticmethod
    def backbone_key(cfg) -> str:
        return json.dumps([cfg.model.model_dump(mode="json"), cfg.data.max_length], sort_keys=True)

    def backbone(self, cfg):
        """The backbone for `cfg.model` / `cfg.data.max_length`: loaded on first use and kept
        while cells use the same config (one at a time is held); its adaptable weights are set back
        to their freshly loaded values on every call, so a cell never sees an earlier cell's state."""
        key = self.backbone_key(cfg)
        if key != self._key:
            from sggft_meta.model.loading import load_backbone

            self.release()
            backbone = load_backbone(cfg.model, cfg.data.max_length)
            self.backbone_loads += 1
            self._key, self._backbone, self._pristine = key, backbone, backbone.snapshot(include_head=False)
        else:
            self._backbone.restore(self._pristine)
        return self._backbone

    def release(self) -> None:
        """Drop the held backbone (and its tokenised pools)."""
        if self._backbone is None:
            return
        self._key = self._backbone = self._pristine = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


@dataclass
class GridRun:
    total: int
    ran: int = 0
    skipped: int = 0
    reused: int = 0  # copied from a `reuse` folder of the grid
    failed: list[str] = field(default_factory=list)  # labels of cells that ended in an error

    @property
    def ok(self) -> bool:
        return not self.failed


def read_record(path: Path) -> dict | None:
    """A cell record, or None when the file is absent or unreadable."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _group_key(cell: Cell, ctx: Context) -> str:
    """Cells that share a backbone share this key (only `run`-like kinds build a RunConfig)."""
    if cell.kind != "run":
        return f"kind:{cell.kind}:{cell.method}"
    try:
        return ctx.backbone_key(ctx.run_config(cell))
    except Exception:  # noqa: BLE001  (the cell itself will report it)
        return f"bad:{cell.method}"


def order_cells(cells: list[Cell], ctx: Context) -> list[Cell]:
    """Grid order, with methods that share a backbone config run one after the other."""
    groups: dict[str, int] = {}
    keys = {}
    for cell in cells:
        if cell.method not in keys:
            keys[cell.method] = _group_key(cell, ctx)
            groups.setdefault(keys[cell.method], len(groups))
    return sorted(cells, key=lambda c: groups[keys[c.method]])  # stable: grid order within a group


class _Memory:
    """Peak memory of one cell: CUDA max_memory_allocated, and the process's peak RSS (Linux)."""

    def __init__(self) -> None:
        self.cuda = False
        try:
            import torch

            self.cuda = torch.cuda.is_available()
        except ImportError:
            pass

    @staticmethod
    def _status_kib(name: str) -> int | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return None

    def start(self) -> None:
        # what earlier cells freed (a meta-training's heap above all) goes back to the OS first, so
        # the process does not carry it into this cell and the peak below is this cell's own
        release_freed_memory()
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
        try:  # reset the RSS high-water mark (Linux), so VmHWM is this cell's peak
            Path("/proc/self/clear_refs").write_text("5")
            self.rss_reset = True
        except OSError:
            self.rss_reset = False

    def stop(self) -> dict:
        out = {}
        if self.cuda:
            import torch

            out["cuda_peak_bytes"] = int(torch.cuda.max_memory_allocated())
        hwm = self._status_kib("VmHWM")
        if hwm is not None:
            out["peak_rss_bytes"] = hwm * 1024
            out["peak_rss_scope"] = "cell" if self.rss_reset else "process"
        return out


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    import torch

    torch.manual_seed(seed)


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (1 <= I <= N) -> (I, N), with a clear error otherwise."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like I/N (e.g. 1/2), got {text!r}") from None
    if not 1 <= i <= n:
        raise ConfigError(f"--shard {text}: I must be between 1 and N")
    return i, n


def select_cells(grid: Grid, todo: list[Cell], only_tasks: list[str] | None = None, only_methods: list[str] | None = None,
                 shard: tuple[int, int] | None = None, only_shots: list[int] | None = None) -> list[Cell]:
    """The cells of `todo` this process runs: those of `only_tasks` (names as the grid or the records
    spell them), `only_methods` and `only_shots`, then every N-th of what is left, from the I-th
    (`shard`). Shard places count among the selected cells, so processes sharing a grid give the
    same filters."""
    tasks = list(dict.fromkeys(c.task_name for c in todo))
    todo = _only(grid, todo, only_tasks, "task", lambda c: (c.task, c.task_name), tasks)
    todo = _only(grid, todo, only_methods, "method", lambda c: (c.method,), list(grid.methods))
    todo = _only(grid, todo, only_shots, "shot", lambda c: (c.shots,), [str(k) for k in grid.shots])
    return todo if shard is None else [c for j, c in enumerate(todo) if j % shard[1] == shard[0] - 1]


def _only(grid: Grid, cells: list[Cell], wanted: list[str] | None, what: str, names_of, known: list[str]) -> list[Cell]:
    """The cells one of whose names (`names_of`) is in `wanted`; a wanted name no cell has is an error."""
    if not wanted:
        return cells
    unknown = [str(w) for w in wanted if not any(w in names_of(c) for c in cells)]
    if unknown:
        raise ConfigError(f"--{what}s {','.join(unknown)}: not a {what} of grid {grid.name!r} (its {what}s: {', '.join(known)})")
    return [c for c in cells if any(w in names_of(c) for w in wanted)]


def run_grid(grid: Grid, out: str | Path, *, data_dir: str | Path | None = None, fail_fast: bool = False,
             log: Callable[[str], None] | None = None, command: str | None = None,
             shard: tuple[int, int] | None = None, only_tasks: list[str] | None = None,
             only_methods: list[str] | None = None, only_shots: list[int] | None = None) -> GridRun:
    """Run every unfinished cell of `grid`, writing one record per cell under `out`.

    `data_dir` (else the grid's `data_dir`, else $SGGFT_DATA_DIR) is where tasks are read.
    A cell that raises is recorded as an error record and the grid goes on, unless `fail_fast`
    (then the exception propagates after its record is written). `shard=(i, n)` runs only the
    cells whose place in the grid's order is i modulo n (1-based), so n processes started on the
    same `out` share a grid without running a cell twice. `only_tasks` (task names as the grid
    spells them, or as records do) runs only those tasks' cells; the rest stay missing in the
    aggregation; `only_methods` and `only_shots` (K values) do the same for methods and K. Returns
    the counts.
    """
    out = Path(out)
    log = log or _stderr
    data_dir = data_dir if data_dir is not None else grid.data_dir
    ctx = Context(grid, out, None if data_dir is None else str(data_dir), command or command_line(), log)
    commit, dirty, where = git_commit(), _tree_dirty(), machine()  # the code that runs: read before the (long) run
    todo = grid_cells(grid)

    # Finished cells made with another definition of their method: refuse before computing anything.
    changed: dict[str, str] = {}
    for cell in todo:
        record = read_record(out / cell.relpath)
        if record and record.get("status") == "ok" and record.get("definition_hash") != cell.definition_hash:
            changed.setdefault(cell.method, str(out / "cells" / cell.method))
    if changed:
        names = ", ".join(f"{m} ({p})" for m, p in changed.items())
        raise ConfigError(f"{out} holds finished cells made with a different definition of method(s) {names}: "
                          "use another --out, or delete those folders to redo them")

    missing = [str(f) for f in grid.reuse if not (Path(f) / "cells").is_dir()]
    if missing:
        archived = [f for f in missing if (Path(f).parent / "archives" / f"{Path(f).name}.tar.xz").is_file()]
        unpack = (f"; its cells are archived: tar -xJf {Path(archived[0]).parent / 'archives' / Path(archived[0]).name}.tar.xz "
                  f"-C {Path(archived[0]).parent}") if archived else ""
        raise ConfigError(f"reuse: {', '.join(missing)} is not the --out folder of a bench run (no cells/ in it; "
                          f"paths are relative to the working directory {Path.cwd()}){unpack}")
    mine = select_cells(grid, todo, only_tasks, only_methods, shard, only_shots)  # bad names fail before anything is written
    # every shard of a run refuses alike, whether or not its own share holds the method's cells
    wanted = select_cells(grid, todo, only_tasks, only_methods, None, only_shots) if shard else mine
    blocked = [m for m in dict.fromkeys(c.method for c in wanted) if m in grid.unavailable]
    if blocked:
        others = [m for m in grid.methods if m not in grid.unavailable]
        hint = f"; or run the other methods alone: --methods {','.join(others)}" if others else ""
        raise ConfigError("; ".join(grid.unavailable[m] for m in blocked) + hint)
    out.mkdir(parents=True, exist_ok=True)
    (out / GRID_COPY).write_text(dump_grid(grid), encoding="utf-8")
    write_json_atomic(out / MANIFEST, manifest(grid, todo))
    ordered = order_cells(mine, ctx)
    run = GridRun(total=len(ordered))
    width = len(str(len(ordered)))
    memory = _Memory()
    for i, cell in enumerate(ordered, 1):
        head = f"[{i:>{width}}/{len(ordered)}] {cell.label}"
        path = out / cell.relpath
        record = read_record(path)
        if record and record.get("status") == "ok":
            run.skipped += 1
            log(f"{head}: done earlier, skipped")
            continue
        reused = find_reusable(grid.reuse, cell)
        if reused is not None:
            source, old = reused
            write_json_atomic(path, {**old, "method": cell.method, "grid": grid.name, "reused_from": str(source),
                                     "reused_grid": old.get("grid")})
            run.reused += 1
            log(f"{head}: same definition in {source}, copied")
            continue
        fn = BENCH_METHODS.get(cell.kind)
        started, t0 = _now(), time.perf_counter()
        _seed_everything(cell.seed)
        memory.start()
        error = None
        try:
            result = fn(cell, ctx)
            if not isinstance(result, dict) or "test_metric" not in result or "seconds" not in result:
                raise TypeError(f"bench method kind {cell.kind!r} must return a dict with test_metric and seconds, "
                                f"got {type(result).__name__}{' keys ' + ', '.join(result) if isinstance(result, dict) else ''}")
        except Exception as e:  # noqa: BLE001  (recorded; KeyboardInterrupt still stops the grid)
            error = e
            result = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=20)}
        wall = time.perf_counter() - t0
        mem = memory.stop()
        record = {
            "metric": None,
            "test_metric": None,
            "seconds": None,
            "trace": {},
            "peak_memory_bytes": None,
            **result,
            # the runner's fields win over a method's keys of the same name
            "record_version": RECORD_VERSION,
            "status": "ok" if error is None else "error",
            "grid": grid.name,
            "method": cell.method,
            "kind": cell.kind,
            "task": cell.task_name,
            "task_arg": cell.task,
            "shots": cell.shots,
            "seed": cell.seed,
            "backbone": result.get("backbone") or _backbone_name(cell),
            "definition": cell.definition,
            "definition_hash": cell.definition_hash,
            "data_dir": ctx.data_dir,
            "machine": where,
            "commit": commit,
            "commit_dirty": dirty,
            "command": ctx.command,
            "started_at": started,
            "finished_at": _now(),
            "wall_seconds": wall,
            **mem,
        }
        record["metric"] = record["metric"] or _task_metric(cell)
        if record["peak_memory_bytes"] is None and "cuda_peak_bytes" in mem:
            record["peak_memory_bytes"] = mem["cuda_peak_bytes"]
        try:
            write_json_atomic(path, record)
        except (TypeError, ValueError) as e:  # a method returned something JSON cannot hold
            error = e
            record = {k: v for k, v in record.items() if k not in result} | {
                "status": "error", "error": f"the record of kind {cell.kind!r} is not JSON-serialisable: {e}"}
            write_json_atomic(path, record)
        if error is None:
            run.ran += 1
            value, secs = record["test_metric"], record["seconds"]
            shown = f"{value * 100:.1f}" if isinstance(value, (int, float)) and value == value else str(value)
            took = f"{secs:.1f} s" if isinstance(secs, (int, float)) else f"{secs} s"
            log(f"{head}: {record['metric']} {shown} ({took})")
        else:
            run.failed.append(cell.label)
            log(f"{head}: FAILED {record['error']}")
            if fail_fast:
                ctx.release()
                raise error
    ctx.release()
    return run


#: environment variables that change what a run reads or how fast it goes, recorded with the command
RECORDED_ENV = ("SGGFT_DATA_DIR", "HF_HUB_OFFLINE", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")


def command_line() -> str:
    """This process's command line, as one would type it again (the relevant environment first)."""
    env = [f"{k}={shlex.quote(os.environ[k])}" for k in RECORDED_ENV if os.environ.get(k)]
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:  # `python -m sggft_bench ...`: argv[0] is only __main__.py
        prog = ["python", "-m", spec.name.removesuffix(".__main__")]
    else:
        prog = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"]
    argv = [*prog, *sys.argv[1:]]
    return " ".join(env + [shlex.quote(a) for a in argv])


def manifest(grid: Grid, cells: list[Cell]) -> dict:
    """The grid's axes with task names as the records spell them (aggregation reads this)."""
    tasks = list(dict.fromkeys(c.task_name for c in cells))
    return {"name": grid.name, "focus": grid.focus, "against": grid.against, "methods": list(grid.methods), "tasks": tasks,
            "shots": list(grid.shots), "seeds": list(grid.seeds),
            "definitions": {m: {"kind": spec.kind, "overrides": [*grid.base, *spec.overrides], "options": spec.options,
                                "description": spec.description} for m, spec in grid.methods.items()}}


def find_reusable(folders, cell: Cell) -> tuple[Path, dict] | None:
    """A finished record of `cell`'s definition, task, K and seed in one of `folders` (any method
    name), with its path; None when there is none."""
    for folder in folders:
        for path in sorted(Path(folder).glob(f"cells/*/{cell.relpath.parent.parent.name}/k{cell.shots}/seed{cell.seed}.json")):
            record = read_record(path)
            if (record and record.get("status") == "ok" and record.get("definition_hash") == cell.definition_hash
                    and record.get("task") == cell.task_name):
                return path, record
    return None


def _tree_dirty() -> bool | None:
    """Whether tracked files of the library's checkout outside docs/ differ from the commit (None: not
    a git checkout). Results and documentation being written under docs/ do not change what runs."""
    import subprocess

    try:
        res = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)docs"],
                             cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(res.stdout.strip()) if res.returncode == 0 else None


def _task_metric(cell: Cell) -> str | None:
    try:
        from sggft_meta.task import get_task

        return get_task(cell.task).metric
    except Exception:  # noqa: BLE001
        return None


def _backbone_name(cell: Cell) -> str | None:
    for item in reversed(cell.overrides):
        if item.startswith("model.name="):
            return item.split("=", 1)[1]
    return "minilm" if cell.kind == "run" else None
