"""A tiny app for the platform's tests and benchmarks, made discoverable without installing a package.

`SineTestPipeline` forecasts a noisy sine wave (a few hundred rows) with a small MLP. `epoch_sleep_s` paces
it so a test can watch it mid-run, `fail_at_epoch` makes it raise, and `chatter` makes it print, log and warn.
It trains on an uploaded CSV (columns step, value) when its dataset_id names one. `register_test_app(directory)`
writes a .dist-info folder declaring its `azuraforge.pipelines` entry point; with
`directory` on sys.path (or PYTHONPATH of a worker process) the app is found by the same entry-point discovery
as any installed app.
"""

import logging
import sys
import time
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from azuraforge_core import nn
from azuraforge_learner.callbacks import Callback, Logs
from azuraforge_learner.datasets import DatasetId, DatasetSpec
from azuraforge_learner.record import DataSource
from azuraforge_learner.timeseries import (
    DATA_SOURCE,
    PreparedSeries,
    TimeSeriesConfig,
    TimeSeriesPipeline,
    WindowSpec,
)

TEST_APP = "sine_test"

log = logging.getLogger(__name__)


class SineTestConfig(TimeSeriesConfig):
    epochs: int = Field(3, ge=1, le=10_000, description="Passes over the training data.")
    window: int = Field(8, ge=1, le=100, description="Past values the model sees.")
    rows: int = Field(300, ge=60, le=100_000, description="Length of the synthetic series.")
    epoch_sleep_s: float = Field(0.0, ge=0.0, le=60.0, description="Pause at the start of every epoch.")
    fail_at_epoch: int | None = Field(None, ge=1, description="Raise at the start of this epoch (1-based).")
    chatter: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Lines to print at the start of every epoch (plus one log record, one "
        "line on stderr and one warning).",
    )
    dataset_id: DatasetId = None


class SineTestPipeline(TimeSeriesPipeline[SineTestConfig]):
    name = TEST_APP
    description = "Test app: forecasts a noisy sine wave; can be slowed down or made to fail."
    Config: ClassVar[type[TimeSeriesConfig]] = SineTestConfig
    datasets = (DatasetSpec(kind="csv", columns=["step", "value"], description="A series to forecast."),)

    def _load_data(self, config: SineTestConfig) -> pd.DataFrame:
        if self.dataset is not None:
            frame = pd.read_csv(self.dataset.path, index_col="step").loc[:, ["value"]].astype("float64")
            ref = self.dataset.ref
            frame.attrs[DATA_SOURCE] = DataSource(
                requested="uploaded", used="uploaded", description=f"uploaded {ref.name}", dataset=ref
            )
            return frame
        rng = np.random.default_rng(0)
        steps = np.arange(config.rows)
        values = np.sin(steps / 6.0) + rng.normal(0.0, 0.05, config.rows)
        return pd.DataFrame({"value": values}, index=steps)

    def _create_model(self, config: SineTestConfig, spec: WindowSpec) -> nn.Module:
        return nn.Sequential(
            nn.Flatten(), nn.Linear(spec.window * spec.n_features, 16), nn.Tanh(), nn.Linear(16, spec.horizon)
        )

    def _callbacks(self, config: SineTestConfig, data: PreparedSeries) -> list[Callback]:
        return [*super()._callbacks(config, data), _Pace(config)]


class _Pace(Callback):
    def __init__(self, config: SineTestConfig) -> None:
        self.sleep_s = config.epoch_sleep_s
        self.fail_at_epoch = config.fail_at_epoch
        self.chatter = config.chatter

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        if self.chatter:
            for line in range(self.chatter):
                print(f"epoch {epoch + 1} line {line + 1}")
            log.info("epoch %d begins", epoch + 1)
            print(f"epoch {epoch + 1} on stderr", file=sys.stderr)
            warnings.warn(f"sine_test warns at epoch {epoch + 1}", UserWarning, stacklevel=1)
        if self.fail_at_epoch == epoch + 1:
            raise RuntimeError(f"sine_test was told to fail at epoch {epoch + 1}")
        time.sleep(self.sleep_s)


def register_test_app(directory: Path) -> Path:
    """Declares SineTestPipeline as an installed app in `directory` (returned, for sys.path or PYTHONPATH)."""
    dist_info = directory / "azuraforge_sine_test-0.0.0.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: azuraforge-sine-test\nVersion: 0.0.0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[azuraforge.pipelines]\n{TEST_APP} = {__name__}:{SineTestPipeline.__name__}\n"
    )
    return directory
