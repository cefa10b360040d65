"""Figures for the README: trains the default config (Open-Meteo, or the shipped Greensboro sample when the
archive can't be reached) and three variants, and prints, as markdown, the test errors of the model next to
every baseline with the run's verdict per metric, the data source and the run time.

    python scripts/evidence.py [--out DIR] [--source open-meteo|sample]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from azuraforge_app_weather_forecaster import WeatherForecasterPipeline
from azuraforge_app_weather_forecaster.temperatures import WEATHER_VARIABLES

CALENDAR = ["temperature", "hour_sin", "hour_cos", "day_sin", "day_cos"]
VARIANTS: dict[str, dict[str, Any]] = {
    "Default config: hourly, window 48 h, horizon 24 h": {},
    "With the Greensboro weather variables as inputs and early stopping (patience 3)": {
        "source": "sample",
        "features": [*CALENDAR, *(name for name in WEATHER_VARIABLES if name != "wind_dir_deg")],
        "early_stopping_patience": 3,
    },
    "The smooth Seattle 2010 hourly sample": {"source": "sample", "sample": "seattle"},
    "Daily Seattle 2012-2015: window 28 days, horizon 7 days": {
        "source": "sample",
        "frequency": "daily",
        "window": 28,
        "horizon": 7,
    },
}


def run(config: dict[str, Any], out: Path) -> None:
    started = time.perf_counter()
    result = WeatherForecasterPipeline().run(config, output_dir=out)
    seconds = time.perf_counter() - started
    data = result.provenance.data
    if data is not None:
        fallback = f" {data.source.fallback_reason}" if data.source.fallback_reason else ""
        print(f"Data ({data.source.used}): {data.source.description}.{fallback}\n")
    print(
        f"{result.epochs_completed} epochs ({result.stop_reason.kind}); run time (load, train, evaluate, report) "
        f"{seconds:.1f} s on {os.cpu_count()} CPUs\n"
    )
    names = [baseline.name for baseline in result.baselines]
    print(f"| test split, °C | model | {' | '.join(names)} | verdict |")
    print("|---|---|" + "---|" * len(names) + "---|")
    verdicts = {entry.metric: entry for entry in result.verdict}
    for metric, value in result.metrics.items():
        entry = verdicts[metric]
        scores = " | ".join(f"{baseline.metrics[metric]:.3f}" for baseline in result.baselines)
        verdict = "beats both" if entry.beaten else f"**not beaten** ({entry.strongest_baseline})"
        print(f"| {metric} | {value:.3f} | {scores} | {verdict} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="keep the run directories here (default: a temporary folder)")
    parser.add_argument("--source", choices=["open-meteo", "sample"], default="open-meteo")
    args = parser.parse_args()
    defaults = WeatherForecasterPipeline.default_config()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        for number, (title, change) in enumerate(VARIANTS.items()):
            print(f"### {title}\n")
            run({**defaults, "source": args.source, **change}, out / f"run-{number}")
        if args.out:
            print(f"Run directories: {out}")


if __name__ == "__main__":
    main()
