"""Progress events: what the worker publishes, what the API stores in the stream and sends over WebSocket.

Every event is one JSON object with experiment_id, seq (1-based, per experiment, no gaps), type and ts (unix
seconds when published) plus its payload. `publish_event` assigns seq (and ts, if the event has none yet);
models are built with both at 0.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Number = float | None
"""A measured value; null when it is not finite (a diverged loss), which JSON cannot carry."""

ExperimentStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

LIVE_INTERVAL_S = 0.25
"""Throttling of the live stream: at most one batch event of a worker run, and one value of each metric of an
external run, per this many seconds. The stored history keeps every value."""


class _Event(BaseModel):
    # Every field is always sent, so the schema clients generate types from marks every field required.
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    experiment_id: str
    seq: int = Field(default=0, ge=0, description="Assigned by publish_event; 1 for the first event.")
    ts: float = Field(default=0.0, description="Unix seconds when published; 0 until publish_event stamps it.")


class StatusEvent(_Event):
    type: Literal["status"] = "status"
    status: ExperimentStatus
    error: str | None = None
    final: bool = False
    result: dict[str, Any] | None = Field(
        default=None,
        description="On the final event: the run's result record (the learner's RunResult), as the experiment "
        "stores it; null when the run produced none (cancelled before it began, reaped).",
    )


class TrainBeginEvent(_Event):
    type: Literal["train_begin"] = "train_begin"
    app: str
    total_epochs: int
    config: dict[str, Any]


class EpochEndEvent(_Event):
    type: Literal["epoch_end"] = "epoch_end"
    epoch: int = Field(ge=1, description="1-based.")
    total_epochs: int
    metrics: dict[str, Number]
    elapsed_s: float
    eta_s: float | None


class BatchEvent(_Event):
    type: Literal["batch"] = "batch"
    epoch: int = Field(ge=1, description="1-based.")
    batch: int = Field(ge=1, description="1-based.")
    total_batches: int
    loss: Number


class PredictionsEvent(_Event):
    type: Literal["predictions"] = "predictions"
    epoch: int = Field(ge=1, description="1-based.")
    actual: list[Number]
    predicted: list[Number]


class LogEvent(_Event):
    """Lines the run wrote to its run.log (names.RUN_LOG_FILE), numbered from 1 as in that file.

    Live lines are rate-limited: beyond the cap per second they are held back and announced by one event with
    `held_back` > 0 and no `lines`, so a client knows to read them with GET .../logs?after=first_line-1. The file
    keeps every line."""

    type: Literal["log"] = "log"
    first_line: int = Field(ge=1, description="The number of the first line of `lines` (or the first held back).")
    lines: list[str] = Field(description="Consecutive lines from first_line on; empty when held_back > 0.")
    held_back: int = Field(default=0, ge=0, description="Lines from first_line on not sent live (rate limit).")


class SystemSample(BaseModel):
    """The training process and its host at one moment."""

    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    elapsed_s: float = Field(description="Seconds since training began.")
    cpu_percent: float = Field(description="CPU of the training process since the previous sample (100 = a core).")
    rss_bytes: int = Field(description="Resident memory of the training process.")
    load1: float = Field(description="Host load average over the last minute.")


class EpochTiming(BaseModel):
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    epoch: int = Field(ge=1, description="1-based.")
    wall_s: float = Field(description="Wall time of the epoch's training pass and its evaluation.")
    samples_per_s: float | None = Field(description="Training samples per second of wall time.")
    system: SystemSample


class SystemEvent(_Event):
    """A system sample: every few seconds (`epoch` null), and at each epoch's end (with its timing)."""

    type: Literal["system"] = "system"
    sample: SystemSample
    epoch: EpochTiming | None = None


class SystemRecord(BaseModel):
    """The system metrics of a run as its record keeps them (the experiment's `system` column)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    epochs: list[EpochTiming] = Field(default_factory=list)
    samples: list[SystemSample] = Field(
        default_factory=list, description="The periodic samples; thinned to every other one when they grow long."
    )
    peak_rss_bytes: int = Field(default=0, description="The highest resident memory of any sample.")
    mean_epoch_s: float | None = Field(default=None, description="Mean wall time of an epoch; null before one ends.")


ProgressEvent = Annotated[
    StatusEvent | TrainBeginEvent | EpochEndEvent | BatchEvent | PredictionsEvent | LogEvent | SystemEvent,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[ProgressEvent] = TypeAdapter(ProgressEvent)


def parse_event(raw: str | bytes) -> ProgressEvent:
    """One event from its JSON text; raises pydantic.ValidationError on anything else."""
    return _adapter.validate_json(raw)


def is_final(event: ProgressEvent) -> bool:
    return isinstance(event, StatusEvent) and event.final


class _Marks(BaseModel):
    seq: int
    type: str
    final: bool = False


def seq_and_final(raw: str | bytes) -> tuple[int, bool]:
    """A stored event's seq and whether it is final, without validating the rest of it (a replay sends the
    publisher's validated text as it is)."""
    marks = _Marks.model_validate_json(raw)
    return marks.seq, marks.type == "status" and marks.final
