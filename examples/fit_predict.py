"""Fit a classifier on all of your labelled examples, save it, load it elsewhere, predict.

Demonstrates the model that comes out: `sg.fit` on texts and labels held in memory (a list, a
`datasets.Dataset` or a pandas DataFrame work alike), `save_pretrained` (config.json + safetensors,
LoRA in peft's adapter layout), `FewShotClassifier.from_pretrained` in a fresh object, and
`predict` / `predict_proba`. Offline; well under a minute on two CPU cores with MiniLM.

    python examples/fit_predict.py [--model minilm] [--steps 30] [--save DIR]
"""

import argparse
import tempfile

import sggft_meta as sg

TEXTS = ["The battery lasts for days", "Screen cracked in the first week", "Fast shipping and it works great",
         "Stopped working after a month", "Exactly what I hoped for", "The charger overheats and smells",
         "Sturdy, light and easy to set up", "Returned it, the buttons stick"]
LABELS = ["good", "bad", "good", "bad", "good", "bad", "good", "bad"]
NEW = ["I use it every day and love it", "Broke the day after the warranty ended"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm", help="backbone name, hub id or local path")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--save", help="where to keep the model (default: a temporary folder)")
    args = ap.parse_args(argv)
    model = sg.fit(TEXTS, labels=LABELS, method=sg.SggftConfig(mode="surgery"), model=args.model,
                   train=sg.TrainConfig(max_steps=args.steps), progress=False)
    print(f"fit: {model.fit_info['note']}; labels {model.labels}")
    folder = args.save or tempfile.mkdtemp(prefix="sggft_model_")
    model.save_pretrained(folder, overwrite=bool(args.save))
    loaded = sg.FewShotClassifier.from_pretrained(folder)
    gap = abs(loaded.predict_proba(NEW) - model.predict_proba(NEW)).max()
    print(f"saved to {folder} and loaded back: largest probability difference {gap:.1e}")
    for text, label, p in zip(NEW, loaded.predict(NEW), loaded.predict_proba(NEW)):
        print(f"{label:>5} ({p.max():.2f})  {text}")


if __name__ == "__main__":
    main()
