"""The JSON the REST API accepts and returns (the OpenAPI schema at /docs is built from these)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from azuraforge_common.events import ExperimentStatus
from azuraforge_common.models import Experiment

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"app": "stock_predictor", "config": {"epochs": 20}, "name": "first try", "tags": ["lstm"]},
                {"app": "stock_predictor", "config": {"epochs": 20}, "grid": {"learning_rate": [0.01, 0.001]}},
            ]
        },
    )

    app: str = Field(min_length=1, description="An installed app (GET /api/v1/apps).")
    config: dict[str, Any] = Field(default_factory=dict, description="The app's config; omitted fields default.")
    name: str | None = Field(default=None, max_length=150)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] | None = Field(
        default=None,
        description="Hyperparameter grid: config field -> values to try. One experiment per combination, "
        "grouped under a batch id. Only fields listed here vary; a list in `config` is just a list value.",
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


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[dict[str, Any]] | None = Field(
        default=None,
        description="Rows of input data in time order (column -> value), at least `window` of them; "
        "omitted: the app loads its latest data itself.",
    )
