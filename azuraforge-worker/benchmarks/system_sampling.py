"""Benchmark (not a test): what measuring system metrics costs training.

Trains an app in this process while timing its batches, then times one system sample (process CPU time,
memory, host load: what SystemMonitor reads at each epoch's end and every SAMPLE_INTERVAL_S; nothing runs per
batch). Prints the sample's cost, and what the samples of that run add per training step on average.

    python benchmarks/system_sampling.py                      # the test app, 2000 rows
    python benchmarks/system_sampling.py --app stock-predictor --set epochs=2
"""

import argparse
import json
import statistics
import tempfile
import time

from azuraforge_learner.callbacks import Callback, Logs
from azuraforge_learner.plugins import load_pipeline
from azuraforge_worker.system import SAMPLE_INTERVAL_S, Sampler
from azuraforge_worker.testing import TEST_APP, SineTestPipeline


class StepTimer(Callback):
    def __init__(self) -> None:
        self.started = 0.0
        self.steps: list[float] = []
        self.epochs = 0

    def on_batch_begin(self, batch: int, logs: Logs) -> None:
        self.started = time.perf_counter()

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        self.steps.append(time.perf_counter() - self.started)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.epochs += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default=TEST_APP)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="a config value")
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    config = {"epochs": 3, "rows": 2000} if args.app == TEST_APP else {}
    config |= {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    pipeline = SineTestPipeline() if args.app == TEST_APP else load_pipeline(args.app)()

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        pipeline.run(config, callbacks=[timer], output_dir=out)
    step, training = statistics.median(timer.steps), sum(timer.steps)

    sampler = Sampler()
    started = time.perf_counter()
    for _ in range(args.samples):
        sampler.sample()
    sample = (time.perf_counter() - started) / args.samples
    taken = timer.epochs + training / SAMPLE_INTERVAL_S
    per_step = sample * taken / len(timer.steps)

    print(f"{args.app}: {len(timer.steps)} steps in {timer.epochs} epochs, median step {step * 1e3:.3f} ms")
    print(f"one system sample: {sample * 1e6:.1f} us ({100 * sample / step:.1f} % of one step)")
    print(f"samples of this run: {taken:.1f}, adding {per_step * 1e6:.2f} us per step = {100 * per_step / step:.3f} %")


if __name__ == "__main__":
    main()
