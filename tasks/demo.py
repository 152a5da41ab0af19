"""The embedded demo tasks: small, written by the sggft-meta authors, shipped in the package.

They are the offline default of `sggft-meta quickstart`; they are a demo, not a benchmark.
"""

import json
from pathlib import Path

from sggft_meta.task import Task, register_task

import sggft_meta

# The corpus ships inside the sggft_meta package (package data).
DEMO_DIR = Path(sggft_meta.__file__).resolve().parent / "demo_corpus"

_TEMPLATES = {
    "sentiment": ("{text} It was {label}.", None),
    "topic": ("{text} Topic: {label}", None),
    "question-type": ("{text} The answer is a {label}.", None),
    "nli": ("Premise: {text}\nHypothesis: {text_pair}\nDoes the premise entail the hypothesis? {label}", ("Yes", "No")),
}
_VERBALIZERS = {"demo_product_reviews": ("terrible", "great"), "demo_restaurant_reviews": ("terrible", "okay", "great")}


def _register(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    template, verbalizers = _TEMPLATES.get(meta["domain"], (None, None))
    attrs = {
        "name": meta["name"],
        "label_names": tuple(meta["label_names"]),
        "pair": bool(meta["pair"]),
        "domain": meta["domain"],
        "metric": meta.get("metric", "accuracy"),
        "folder": folder,
        "template": template,
        "verbalizers": _VERBALIZERS.get(meta["name"], verbalizers),
        "description": meta.get("description", ""),
    }
    register_task(type(f"Demo_{meta['name']}", (Task,), attrs))


for _folder in sorted(DEMO_DIR.glob("demo_*")):
    if (_folder / "meta.json").is_file():
        _register(_folder)

DEMO_TASKS = tuple(sorted(p.name for p in DEMO_DIR.glob("demo_*") if (p / "meta.json").is_file()))
