"""Figures for the README: trains the default config (yfinance, or the shipped S&P 500 sample when Yahoo! can't
be reached) and a few variants, and prints, as markdown, the model next to the strongest baseline of each
metric (the naive last-price forecast for price errors, the better constant guess for direction), whatever that
shows, with the data source and the run time.

    python scripts/evidence.py [--out DIR] [--source yfinance|sample]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from azuraforge_app_stock_predictor import StockPredictorPipeline

VARIANTS: dict[str, dict[str, Any]] = {
    "default (5 years, returns)": {},
    "20 years (period max), returns": {"period": "max"},
    "5 years, log prices": {"transform": "log"},
    "5 years, returns, 5 days ahead": {"horizon": 5},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="keep the run directories here (default: a temporary folder)")
    parser.add_argument("--source", choices=["yfinance", "sample"], default="yfinance")
    args = parser.parse_args()
    defaults = StockPredictorPipeline.default_config()
    print(f"Ticker {defaults['ticker']}, window {defaults['window']} days, {os.cpu_count()} CPUs.\n")
    shown = ("mae", "rmse", "direction_accuracy")
    print(f"| run | test days | {' | '.join(f'{name}: model / strongest baseline' for name in shown)} | time |")
    print("|---|---|" + "---|" * len(shown) + "---|")
    sources = set()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        for number, (label, change) in enumerate(VARIANTS.items()):
            run_dir = out / f"run-{number}"
            started = time.perf_counter()
            result = StockPredictorPipeline().run({**defaults, "source": args.source, **change}, output_dir=run_dir)
            seconds = time.perf_counter() - started
            data = result.provenance.data
            if data is not None:
                source = data.source
                fallback = f" {source.fallback_reason}" if source.fallback_reason else ""
                sources.add(f"{source.used}: {source.description}; used {data.first}..{data.last}.{fallback}")
            days = sum(1 for _ in (run_dir / "predictions.csv").open()) - 1
            verdicts = {entry.metric: entry for entry in result.verdict}
            cells = [
                f"{verdicts[name].model:.4g} / {verdicts[name].baseline:.4g} ({verdicts[name].strongest_baseline}"
                f"{'; beaten' if verdicts[name].beaten else ''})"
                for name in shown
            ]
            print(f"| {label} | {days} | {' | '.join(cells)} | {seconds:.1f} s |")
        print("\nData:\n")
        for line in sorted(sources):
            print(f"- {line}")
        if args.out:
            print(f"\nRun directories: {out}")


if __name__ == "__main__":
    main()
