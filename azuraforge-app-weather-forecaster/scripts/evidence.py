"""Figures for the README: trains the default config (Open-Meteo, or the shipped Seattle sample when the archive
can't be reached) and the daily variant, and prints, as markdown, the test errors of the model next to the
persistence and seasonal baselines, the data source and the run time.

    python scripts/evidence.py [--out DIR] [--source open-meteo|sample]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from azuraforge_app_weather_forecaster import WeatherForecasterPipeline


def run(config: dict[str, Any], out: Path) -> None:
    started = time.perf_counter()
    result = WeatherForecasterPipeline().run(config, output_dir=out)
    seconds = time.perf_counter() - started
    details = json.loads((out / "metrics.json").read_text())
    seasonal = details["seasonal_baseline"]
    horizon = config.get("horizon", WeatherForecasterPipeline.default_config()["horizon"])
    print(f"Data: {details['data_source']}\n")
    print(f"Run time (load, train, evaluate, report): {seconds:.1f} s on {os.cpu_count()} CPUs\n")
    print(f"| test RMSE, °C | model | persistence | {seasonal['name']} |")
    print("|---|---|---|---|")
    for name, label in (("rmse_step_1", "next step"), (f"rmse_step_{horizon}", f"step {horizon}"), ("rmse", "all")):
        model, persistence = result.metrics[name], result.baseline_metrics[name]
        print(f"| {label} | {model:.3f} | {persistence:.3f} | {seasonal['metrics'][name]:.3f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="keep the run directories here (default: a temporary folder)")
    parser.add_argument("--source", choices=["open-meteo", "sample"], default="open-meteo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        defaults = WeatherForecasterPipeline.default_config()
        print(f"## Default config: hourly, window {defaults['window']} h, horizon {defaults['horizon']} h\n")
        run({**defaults, "source": args.source}, out / "hourly")
        print("## Daily: window 28 days, horizon 7 days\n")
        run({**defaults, "source": args.source, "frequency": "daily", "window": 28, "horizon": 7}, out / "daily")
        if args.out:
            print(f"Run directories: {out}")


if __name__ == "__main__":
    main()
