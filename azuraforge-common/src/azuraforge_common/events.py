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


ProgressEvent = Annotated[
    StatusEvent | TrainBeginEvent | EpochEndEvent | BatchEvent | PredictionsEvent, Field(discriminator="type")
]
_adapter: TypeAdapter[ProgressEvent] = TypeAdapter(ProgressEvent)


def parse_event(raw: str | bytes) -> ProgressEvent:
    """One event from its JSON text; raises pydantic.ValidationError on anything else."""
    return _adapter.validate_json(raw)


def is_final(event: ProgressEvent) -> bool:
    return isinstance(event, StatusEvent) and event.final
