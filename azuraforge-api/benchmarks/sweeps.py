"""Sweep benchmark (not a test): does the search learn, and does pruning save training time?

Runs 30-trial sweeps of the sine_test app with the random and the TPE sampler, each without and with the median
pruner, over several seeds. Trials run one after another in this process, through the platform's own pieces: the
sweep's sampler and pruner (azuraforge_common.sweeps), its Optuna study in a SQLite database, and the worker's
pruning callback, which stops a trial through the learner's cooperative stop. Prints, per variant, the best
objective (val_loss at a trial's last epoch, lower is better) reached after 10, 20 and 30 trials, averaged over
the seeds, the training time used (the runs' own train_seconds) and how many trials were pruned.

    python benchmarks/sweeps.py --seeds 0 1 2 --trials 30
"""

import argparse
import functools
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from azuraforge_common import sweeps
from azuraforge_common.models import Sweep
from azuraforge_learner.config import PipelineConfig
from azuraforge_learner.record import DataProvenance, Provenance, environment
from azuraforge_learner.report import ReportSection
from azuraforge_worker.testing import SineTestPipeline
from azuraforge_worker.trials import TrialPruning

BASE_CONFIG = {"epochs": 12, "rows": 400, "val_fraction": 0.2, "seed": 1}
SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 0.3, "log": True},
    "window": {"type": "int", "low": 2, "high": 24, "step": 2},
    "batch_size": {"type": "categorical", "choices": [8, 16, 32, 64]},
}
CHECKPOINTS = (10, 20, 30)


class QuietSinePipeline(SineTestPipeline):
    """The test app without its report's plots, reading its provenance once: writing a report costs every trial
    the same seconds whatever the search does, and would make the benchmark take hours on a loaded machine."""

    def _save_artifacts(self, config: object, data: object, output_dir: Path) -> None:
        """No plots."""

    def _report(self, config: object, evaluation: object, output_dir: Path) -> list[ReportSection]:
        return []

    @staticmethod
    def _summary_sections(result: object, history: object, out: Path) -> list[ReportSection]:
        return []

    def _provenance(self, config: PipelineConfig, data: DataProvenance | None) -> Provenance:
        python, numpy_version, packages, app_distribution, app_version = _environment()
        return Provenance(
            data=data,
            seed=config.seed,
            python=python,
            numpy=numpy_version,
            packages=packages,
            app_distribution=app_distribution,
            app_version=app_version,
        )


@functools.cache
def _environment() -> tuple[str, str, dict[str, str], str | None, str | None]:
    return environment(SineTestPipeline.__module__)


@dataclass
class Outcome:
    best_after: dict[int, float] = field(default_factory=dict)
    train_seconds: float = 0.0
    pruned: int = 0


def run_sweep(database_url: str, out: Path, sampler: str, pruner: str, seed: int, trials: int) -> Outcome:
    sweep = Sweep(
        id=f"bench-{sampler}-{pruner}-{seed}",
        app="sine_test",
        base_config=BASE_CONFIG,
        space=SPACE,
        objective_metric="val_loss",
        direction="minimize",
        sampler=sampler,
        pruner=pruner,
        n_trials=trials,
        parallelism=1,
        seed=seed,
    )
    sweeps.create_study(database_url, sweep)
    distributions = {name: sweeps.distribution(param) for name, param in sweeps.parse_space(SPACE).items()}
    outcome = Outcome()
    best = float("inf")
    for number in range(trials):
        study = sweeps.load_study(database_url, sweep, number)
        trial = study.ask(distributions)
        config = {**BASE_CONFIG, **trial.params}
        result = QuietSinePipeline().run(
            config, callbacks=[TrialPruning(database_url, sweep, trial.number)], output_dir=out / sweep.id / str(number)
        )
        outcome.train_seconds += result.timings.train_seconds
        if result.stop_reason.kind == "pruned":
            study.tell(trial.number, state=TrialState.PRUNED)
            outcome.pruned += 1
        else:
            value = result.history["val_loss"][-1]
            study.tell(trial.number, value if value is not None else float("nan"))
            if value is not None:
                best = min(best, value)
        if number + 1 in CHECKPOINTS:
            outcome.best_after[number + 1] = best
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="azuraforge-sweep-bench-") as directory:
        database_url = f"sqlite:///{directory}/optuna.db"
        rows = []
        for sampler in ("random", "tpe"):
            for pruner in ("none", "median"):
                started = time.monotonic()
                outcomes = [
                    run_sweep(database_url, Path(directory), sampler, pruner, seed, args.trials) for seed in args.seeds
                ]
                wall = time.monotonic() - started
                best = {n: statistics.mean(o.best_after[n] for o in outcomes) for n in CHECKPOINTS if n <= args.trials}
                rows.append(
                    f"| {sampler} | {pruner} | "
                    + " | ".join(f"{value:.4f}" for value in best.values())
                    + f" | {statistics.mean(o.train_seconds for o in outcomes):.1f} s"
                    + f" | {statistics.mean(o.pruned for o in outcomes):.1f} | {wall:.0f} s |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
    checkpoints = " | ".join(f"best after {n}" for n in CHECKPOINTS if n <= args.trials)
    print(f"\n{args.trials} trials per sweep, seeds {args.seeds}; means over the seeds (val_loss, lower is better)\n")
    print(f"| sampler | pruner | {checkpoints} | training time per sweep | trials pruned | wall time (all seeds) |")
    print("|---|---|" + "---|" * (len(CHECKPOINTS) + 3))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
