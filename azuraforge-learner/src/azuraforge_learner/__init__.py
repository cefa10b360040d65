"""AzuraForge learner: turns azuraforge-core models into experiments.

    from azuraforge_learner import Learner, EarlyStopping, TimeSeriesPipeline, TimeSeriesConfig

The Learner trains with Keras-style callbacks; apps subclass TimeSeriesPipeline or ImageClassificationPipeline
and are found as plug-ins (entry-point group `azuraforge.pipelines`); `cached` keeps data downloads on disk.
"""

from azuraforge_learner.cache import cached
from azuraforge_learner.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    Logs,
    ModelCheckpoint,
    ProgressBar,
)
from azuraforge_learner.config import ConfigError, PipelineConfig, validate_config
from azuraforge_learner.data import ArrayDataset, Dataset
from azuraforge_learner.forecasters import RecurrentForecaster
from azuraforge_learner.image import ImageClassificationConfig, ImageClassificationPipeline, ImageData, ImageSpec
from azuraforge_learner.learner import Learner
from azuraforge_learner.pipeline import BasePipeline, Evaluation, Prepared, Splits, seed_everything
from azuraforge_learner.plugins import (
    AppLoadError,
    PluginError,
    UnknownAppError,
    discover_pipelines,
    load_pipeline,
)
from azuraforge_learner.record import (
    BaselineResult,
    DataProvenance,
    DataSource,
    MetricSpec,
    MetricVerdict,
    Plan,
    Provenance,
    RunResult,
    StopReason,
)
from azuraforge_learner.report import ReportSection
from azuraforge_learner.reporter import Reporter
from azuraforge_learner.timeseries import TimeSeriesConfig, TimeSeriesPipeline, WindowSpec

__all__ = [
    "AppLoadError",
    "ArrayDataset",
    "BasePipeline",
    "BaselineResult",
    "CSVLogger",
    "Callback",
    "ConfigError",
    "DataProvenance",
    "DataSource",
    "Dataset",
    "EarlyStopping",
    "Evaluation",
    "History",
    "ImageClassificationConfig",
    "ImageClassificationPipeline",
    "ImageData",
    "ImageSpec",
    "Learner",
    "Logs",
    "MetricSpec",
    "MetricVerdict",
    "ModelCheckpoint",
    "PipelineConfig",
    "Plan",
    "PluginError",
    "Prepared",
    "ProgressBar",
    "Provenance",
    "RecurrentForecaster",
    "ReportSection",
    "Reporter",
    "RunResult",
    "Splits",
    "StopReason",
    "TimeSeriesConfig",
    "TimeSeriesPipeline",
    "UnknownAppError",
    "WindowSpec",
    "cached",
    "discover_pipelines",
    "load_pipeline",
    "seed_everything",
    "validate_config",
]
