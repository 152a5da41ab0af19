"""Add your own task two ways, with a decorator and with a bare folder, and fine-tune on it.

Demonstrates `@register_task` in user code (a task whose data this script writes to a temporary
folder) and a folder task needing no code at all (train/test files plus an optional meta.json).
Offline; well under a minute with the default tiny step count.

    python examples/custom_task.py [--model minilm] [--steps 20]
"""

import argparse
import json
import tempfile
from pathlib import Path

import sggft_meta as sg

WEATHER = {
    "rain": ["Bring an umbrella, showers all afternoon", "Heavy rain expected on the coast tonight", "Drizzle will not stop until Friday",
             "Puddles everywhere after the morning downpour", "Wet roads and steady rain for the commute", "A rainy weekend for the north"],
    "sun": ["Clear skies and warm sunshine all day", "A bright sunny morning across the valley", "Not a cloud in sight this weekend",
            "Sunscreen weather at the beach today", "Dry and sunny with light winds", "Blue skies return after lunch"],
}


def write_folder(root: Path) -> Path:
    folder = root / "weather"
    folder.mkdir(parents=True)
    rows = [(text, label) for label, texts in WEATHER.items() for text in texts]
    train = [r for i, r in enumerate(rows) if i % 6 < 4]
    test = [r for i, r in enumerate(rows) if i % 6 >= 4]
    for name, part in (("train", train), ("test", test)):
        with open(folder / f"{name}.jsonl", "w") as f:
            for text, label in part:
                f.write(json.dumps({"text": text, "label": label}) + "\n")
    (folder / "meta.json").write_text(json.dumps({"label_names": ["rain", "sun"], "domain": "weather"}))
    return folder


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp))

        # 1. With code: a Task subclass, registered by the decorator.
        @sg.register_task
        class Weather(sg.Task):
            name = "weather_example"
            label_names = ("rain", "sun")
            domain = "weather"
            template = "{text} The weather will be {label}."

            def load_split(self, split, data_dir=None):
                return sg.folder_task(folder).load_split(split)

        try:
            # 2. Without code: the folder itself is the task.
            by_folder = sg.folder_task(folder)
            print(f"folder task {by_folder.name!r}: labels {by_folder.label_names}, {len(by_folder.load_split('train'))} train rows")
            for task in ("weather_example", str(folder)):
                report = sg.evaluate(task, shots=2, seeds=[13, 42], model=args.model,
                                     train=sg.TrainConfig(max_steps=args.steps, eval_every=5), progress=False)
                mean, std = report.mean_std
                print(f"{report.task}: accuracy {100 * mean:.1f} ({100 * std:.1f}) over seeds {[s.seed for s in report.seeds]}")
        finally:
            sg.TASKS.unregister("weather_example")


if __name__ == "__main__":
    main()
