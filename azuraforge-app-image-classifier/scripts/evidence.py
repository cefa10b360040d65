"""Figures for the README: trains the default config on scikit-learn's digits and prints, as markdown, the test
accuracy next to the majority-class baseline, the per-class scores, the training time, and the accuracy over
several seeds (so one lucky seed can't make the claim).

    python scripts/evidence.py [--out DIR] [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from azuraforge_app_image_classifier import ImageClassifierPipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="keep the run directories here (default: a temporary folder)")
    parser.add_argument("--seeds", type=int, default=5, help="extra runs with seeds 0..N-1 (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        defaults = ImageClassifierPipeline.default_config()
        started = time.perf_counter()
        result = ImageClassifierPipeline().run(defaults, output_dir=out / "default")
        seconds = time.perf_counter() - started
        details = json.loads((out / "default" / "metrics.json").read_text())["details"]
        print(f"## Default config (seed {defaults['seed']}, {defaults['epochs']} epochs), {os.cpu_count()} CPUs\n")
        print(f"Run time (load, train, evaluate, report): {seconds:.1f} s\n")
        print("| metric (test split) | model | " + " | ".join(b.name for b in result.baselines) + " | verdict |")
        print("|---|---|" + "---|" * len(result.baselines) + "---|")
        verdicts = {entry.metric: entry for entry in result.verdict}
        for name, value in result.metrics.items():
            scores = " | ".join(f"{b.metrics[name]:.4f}" for b in result.baselines)
            verdict = (
                "beats every baseline" if verdicts[name].beaten else f"not beaten ({verdicts[name].strongest_baseline})"
            )
            print(f"| {name} | {value:.4f} | {scores} | {verdict} |")
        print("\n| class | precision | recall | F1 | support |")
        print("|---|---|---|---|---|")
        for name, scores in details["per_class"].items():
            row = " | ".join(f"{scores[key]:.3f}" for key in ("precision", "recall", "f1"))
            print(f"| {name} | {row} | {int(scores['support'])} |")
        accuracies = []
        for seed in range(args.seeds):
            run = ImageClassifierPipeline().run({**defaults, "seed": seed}, output_dir=out / f"seed-{seed}")
            accuracies.append(run.metrics["accuracy"])
        if accuracies:
            listed = ", ".join(f"{value:.4f}" for value in accuracies)
            print(f"\nTest accuracy with seeds 0..{args.seeds - 1}: {listed} (lowest {min(accuracies):.4f})")
        if args.out:
            print(f"\nRun directories: {out}")


if __name__ == "__main__":
    main()
