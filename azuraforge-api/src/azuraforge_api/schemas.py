"""The JSON the REST API accepts and returns (the OpenAPI schema at /docs is built from these)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from azuraforge_common.events import ExperimentStatus
from azuraforge_common.models import Experiment
from azuraforge_learner.record import RunResult

MAX_NESTING = 32
"""Of objects and lists in a request body: far beyond any config, far below what the JSON encoders manage."""


def storable(value: Any, where: str = "body", depth: int = 0) -> None:
    """Raises ValueError, naming the place, for what JSON can carry but the databases cannot store or the API
    cannot answer back: NUL characters (PostgreSQL), lone surrogates (not Unicode text), deep nesting."""
    if depth > MAX_NESTING:
        raise ValueError(f"{where} is nested deeper than {MAX_NESTING} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where} contains a NUL character (\\u0000); remove it")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where} contains a lone surrogate (e.g. \\ud800), which is not text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key, f"a key in {where}", depth + 1)
            storable(item, f"{where}.{key}"[:100], depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            storable(item, f"{where}[{index}]"[:100], depth + 1)


class StorableBody(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        storable(data)
        return data


def _distinct(tags: list[str]) -> list[str]:
    if duplicates := sorted({tag for tag in tags if tags.count(tag) > 1}):
        raise ValueError(f"tags must differ (after trimming spaces); given more than once: {', '.join(duplicates)}")
    return tags


Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
MAX_OFFSET = 10**9


class ExperimentCreate(StorableBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"app": "stock_predictor", "config": {"epochs": 20}, "name": "first try", "tags": ["lstm"]},
                {"app": "stock_predictor", "config": {"epochs": 20}, "grid": {"learning_rate": [0.01, 0.001]}},
            ]
        },
    )

    app: str = Field(min_length=1, max_length=100, description="An installed app (GET /api/v1/apps).")
    config: dict[str, Any] = Field(default_factory=dict, description="The app's config; omitted fields default.")
    name: str | None = Field(default=None, max_length=150)
    tags: Annotated[list[Tag], AfterValidator(_distinct)] = Field(default_factory=list, max_length=20)
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] | None = Field(
        default=None,
        description="Hyperparameter grid: config field -> values to try. One experiment per combination, "
        "grouped under a batch id. Only fields listed here vary; a list in `config` is just a list value.",
    )
    queue: str | None = Field(
        default=None,
        max_length=63,
        description="The queue (resource class) to run on, one of the deployment's AZURAFORGE_QUEUES (such as cpu, "
        "gpu, long); default: the app's own, else the first of AZURAFORGE_QUEUES.",
    )


class Progress(BaseModel):
    epoch: int
    total_epochs: int


class ExperimentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    app: str
    name: str
    tags: list[str]
    status: ExperimentStatus
    config: dict[str, Any]
    batch_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    metrics: dict[str, float | None]
    baseline_metrics: dict[str, float | None]
    history: dict[str, list[float | None]]
    error: str | None
    traceback: str | None
    artifacts: list[str]
    progress: Progress | None
    queue: str = Field(description="The queue (resource class) it was sent to.")
    peak_rss_mb: int | None = Field(description="The most memory its run took, in MB above its worker's idle size.")
    result: RunResult | None = Field(
        description="The run's record once it ended: every metric's declaration (direction, unit) in "
        "result.plan.metrics, every baseline, the verdict per metric against the strongest baseline, the stop "
        "reason and provenance. Null while it runs, and for runs that ended without one (cancelled before they "
        "began, reaped, or recorded before the platform stored it)."
    )

    @classmethod
    def of(cls, experiment: Experiment) -> "ExperimentOut":
        return cls.model_validate(experiment)


class BatchOut(BaseModel):
    batch_id: str
    experiments: list[ExperimentOut]


class ExperimentPage(BaseModel):
    items: list[ExperimentOut]
    total: int
    limit: int
    offset: int


class AppOut(BaseModel):
    name: str
    description: str
    config_schema: dict[str, Any]
    defaults: dict[str, Any]


class DependencyHealth(BaseModel):
    status: Literal["ok", "degraded"]
    reason: str | None = Field(default=None, description="Why it is degraded: unreachable, full, busy...")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description='"degraded" when any dependency is.')
    redis: DependencyHealth
    database: DependencyHealth


class PredictRequest(StorableBody):
    model_config = ConfigDict(extra="forbid")

    data: list[dict[str, float | int | str | None]] = Field(
        min_length=1,
        max_length=100_000,
        description="Rows of input data in time order (column -> value), at least the run's `window` of them, "
        "with the columns its model reads. The API never fetches data itself.",
    )
