"""What AzuraForge's API and worker share: settings, the experiment record, progress events and Redis names."""

from azuraforge_common.events import (
    TERMINAL_STATUSES,
    BatchEvent,
    EpochEndEvent,
    ExperimentStatus,
    PredictionsEvent,
    ProgressEvent,
    StatusEvent,
    TrainBeginEvent,
    is_final,
    parse_event,
)
from azuraforge_common.migrate import upgrade
from azuraforge_common.models import Experiment
from azuraforge_common.publish import publish_event
from azuraforge_common.settings import Settings

__all__ = [
    "TERMINAL_STATUSES",
    "BatchEvent",
    "EpochEndEvent",
    "Experiment",
    "ExperimentStatus",
    "PredictionsEvent",
    "ProgressEvent",
    "Settings",
    "StatusEvent",
    "TrainBeginEvent",
    "is_final",
    "parse_event",
    "publish_event",
    "upgrade",
]
