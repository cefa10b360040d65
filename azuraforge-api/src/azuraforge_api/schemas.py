"""The JSON the REST API accepts and returns (the OpenAPI schema at /docs is built from these)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from azuraforge_api.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Role, Scope
from azuraforge_api.auth import Via
from azuraforge_common.events import ExperimentStatus, SystemRecord
from azuraforge_common.models import DEFAULT_PROJECT, Experiment
from azuraforge_common.sweeps import (
    MAX_PARALLELISM,
    MAX_TRIALS,
    Direction,
    PrunerKind,
    SamplerKind,
    SearchParam,
    SweepState,
    TrialStateName,
)
from azuraforge_learner.datasets import DatasetKind, DatasetSpec
from azuraforge_learner.record import MetricSpec, RunResult
from azuraforge_learner.serving import Task

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
    project: str = Field(
        default=DEFAULT_PROJECT, min_length=1, max_length=32, description="The project's id (GET /api/v1/projects)."
    )
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


class ExperimentPatch(StorableBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"notes": "lr too high; try 1e-4"}]})

    name: str | None = Field(default=None, max_length=150)
    tags: Annotated[list[Tag], AfterValidator(_distinct)] | None = Field(default=None, max_length=20)
    notes: str | None = Field(default=None, max_length=20_000, description="Markdown.")

    @model_validator(mode="after")
    def _something(self) -> "ExperimentPatch":
        if self.name is None and self.tags is None and self.notes is None:
            raise ValueError("give at least one of name, tags, notes")
        return self


class BulkRequest(StorableBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"action": "cancel", "batch_id": "0f3c..."}, {"action": "delete", "ids": []}]},
    )

    action: Literal["cancel", "delete"] = Field(description="delete cancels a queued or running experiment first.")
    ids: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=500
    )
    batch_id: str | None = Field(default=None, min_length=1, max_length=64, description="Every member of a grid.")

    @model_validator(mode="after")
    def _one_selection(self) -> "BulkRequest":
        if (self.ids is None) == (self.batch_id is None):
            raise ValueError("give either ids or batch_id (not both)")
        return self


class BulkSkip(BaseModel):
    id: str
    reason: str


class BulkResult(BaseModel):
    done: list[str]
    skipped: list[BulkSkip] = Field(description="Experiments left as they were, each with the reason.")


class Progress(BaseModel):
    epoch: int
    total_epochs: int


class ExperimentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    project_id: str
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
    source: Literal["worker", "external"] = Field(
        description="worker: an app run by a worker; external: a run logged through the MLflow tracking API "
        "(its app is the MLflow experiment's name, its config the run's params)."
    )
    trial_number: int | None = Field(description="The sweep trial this experiment runs (its batch_id is the sweep).")
    trial_params: dict[str, Any] | None = Field(description="The values the sweep sampled for this trial.")
    notes: str = Field(description="Markdown the user wrote about the run.")
    system: SystemRecord | None = Field(
        description="Epoch timings, CPU and memory of the training process, host load; null until the run ends "
        "(and for runs recorded before the platform measured them)."
    )
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
    next_cursor: str | None = Field(description="Send as `cursor` for the next page; null on the last one.")


class LogPage(BaseModel):
    first_line: int = Field(description="The number of lines[0] in run.log (1-based): `after` + 1.")
    lines: list[str]
    total: int = Field(description="Complete lines in run.log so far.")
    finished: bool = Field(description="Whether the run has ended, so that no more lines will come.")


def _declared_fields_only(schema: JsonDict) -> None:
    schema.pop("additionalProperties", None)


class AppOut(BaseModel):
    """An app as the newest process that has it installed published it (see azuraforge_common.catalog). Fields of
    the app's description beyond these are passed through as they are; the OpenAPI lists the declared ones, so
    typed clients see named fields (declare a new field here to type it)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_declared_fields_only)

    name: str
    description: str
    task: Task | None = Field(
        default=None, description="What a saved model of this app predicts; null: it cannot predict."
    )
    config_schema: dict[str, Any] = Field(description="The JSON schema of the app's config.")
    defaults: dict[str, Any]
    datasets: list[DatasetSpec] = Field(
        default=[],
        description="The kinds of uploaded dataset the app trains on (config field dataset_id); empty: none.",
    )
    metrics: list[MetricSpec] = Field(description="The test metrics a run of the default config reports.")
    epoch_metrics: list[MetricSpec] = Field(description="What every epoch of a run of the default config reports.")
    app_distribution: str | None = Field(description="The package that provides the app.")
    app_version: str | None
    packages: dict[str, str] = Field(description="The publisher's azuraforge package versions.")
    published_by: str = Field(description="The process that published this description (worker name@host...).")
    published_at: datetime


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


# Accounts (azuraforge_api.routes.accounts)

Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.@-]+$")]
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
NewPassword = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]


class Login(StorableBody):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password


class ProjectRole(BaseModel):
    id: str
    name: str
    role: Role


class Me(BaseModel):
    username: str
    admin: bool
    via: Via = Field(
        description="How the caller signed in: a session, an API token, the bootstrap token, or "
        "none at all on an open platform (no accounts and no AZURAFORGE_API_TOKEN yet)."
    )
    scopes: list[Scope]
    projects: list[ProjectRole] = Field(description="Every project the caller may see, with its role there.")
    csrf_token: str | None = Field(
        default=None, description="For a session: send it as X-CSRF-Token with every request that changes something."
    )


class TokenCreate(StorableBody):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(
        min_length=1,
        description="read: look; write: launch, cancel, delete; admin: administer the site (site admins only).",
    )
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="Never expires when omitted.")


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedToken(TokenOut):
    token: str = Field(description="The token itself: shown this once, never stored.")


class ProjectCreate(StorableBody):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.-]([\w .-]*[\w.-])?$")


class MemberOut(BaseModel):
    user_id: str
    username: str
    role: Role


class MemberSet(StorableBody):
    model_config = ConfigDict(extra="forbid")

    role: Role


class UserCreate(StorableBody):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: NewPassword = Field(description="At least 12 characters; give it to the user.")
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    admin: bool = False


class UserUpdate(StorableBody):
    model_config = ConfigDict(extra="forbid")

    active: bool | None = None
    admin: bool | None = None
    password: NewPassword | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    email: str | None
    active: bool
    admin: bool
    created_at: datetime
    last_login_at: datetime | None


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    project_id: str | None
    ip: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = Field(
        min_length=1,
        max_length=100,
        description="An epoch metric the app logs (loss, val_loss, val_<metric>): reported after every epoch for "
        "pruning, and a trial's value is it at its last epoch.",
    )
    direction: Direction = "minimize"


class SweepCreate(StorableBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "app": "weather_forecaster",
                    "base_config": {"epochs": 20},
                    "space": {
                        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                        "window": {"type": "int", "low": 12, "high": 72, "step": 12},
                        "scaler": {"type": "categorical", "choices": ["standard", "minmax"]},
                    },
                    "objective": {"metric": "val_loss", "direction": "minimize"},
                    "sampler": "tpe",
                    "pruner": "median",
                    "n_trials": 40,
                    "parallelism": 4,
                    "name": "weather search",
                }
            ]
        },
    )

    app: str = Field(min_length=1, max_length=100, description="An installed app (GET /api/v1/apps).")
    project: str = Field(
        default=DEFAULT_PROJECT, min_length=1, max_length=32, description="The project's id (GET /api/v1/projects)."
    )
    base_config: dict[str, Any] = Field(default_factory=dict, description="The config every trial starts from.")
    space: dict[str, SearchParam] = Field(
        min_length=1,
        max_length=50,
        description="Config field -> what to search: a float range (optionally log), an int range with a step, "
        "or categorical choices (enums, bools). Checked against the app's config schema.",
    )
    objective: Objective
    sampler: SamplerKind = Field("tpe", description="tpe (learns from earlier trials), random, or grid.")
    pruner: PrunerKind = Field("median", description="Stops trials that trail the others: median, hyperband, none.")
    n_trials: int = Field(20, ge=1, le=MAX_TRIALS)
    parallelism: int = Field(2, ge=1, le=MAX_PARALLELISM, description="Trials queued or running at once.")
    name: str | None = Field(default=None, max_length=150)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="Seeds the sampler; null: random.")


class TrialOut(BaseModel):
    number: int
    experiment_id: str
    state: TrialStateName
    value: float | None = Field(description="The objective: at the last epoch, or where it was pruned.")
    latest: float | None = Field(description="The objective at the latest epoch reported so far.")
    epochs_reported: int
    params: dict[str, Any]
    experiment_status: ExperimentStatus
    error: str | None


class SweepSummary(BaseModel):
    id: str
    project_id: str
    name: str
    app: str
    state: SweepState
    base_config: dict[str, Any]
    space: dict[str, SearchParam]
    objective: Objective
    sampler: SamplerKind
    pruner: PrunerKind
    n_trials: int
    parallelism: int
    seed: int | None
    created_at: datetime
    finished_at: datetime | None
    counts: dict[TrialStateName, int] = Field(description="Trials per state.")
    best: TrialOut | None = Field(description="The best complete trial so far.")


class SweepOut(SweepSummary):
    trials: list[TrialOut] = Field(description="Every trial asked so far, by number.")
    importances: dict[str, float] = Field(
        description="Searched field -> how much it explains the objective (PED-ANOVA over the complete trials, "
        "summing to 1); empty until two trials are complete."
    )


class SweepPage(BaseModel):
    items: list[SweepSummary]
    total: int
    limit: int
    offset: int


MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
"""Aliases start with a letter, so `models:/name/3` (a version) and `models:/name@prod` (an alias) never mix."""

MAX_VERSION = 2**31 - 1
"""Versions are 32-bit integers on every database."""
VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION)]
ModelName = Annotated[
    str,
    Path(
        pattern=MODEL_NAME_PATTERN,
        description="1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ),
]
AliasName = Annotated[
    str, Path(pattern=ALIAS_PATTERN, description="1-64 lowercase letters, digits, '_' or '-', starting with a letter")
]


class VersionCreate(StorableBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"experiment_id": "0f3c..."}]})

    experiment_id: str = Field(min_length=1, max_length=32, description="A succeeded run that saved its model.")
    description: str = Field(default="", max_length=10_000)
    tags: Annotated[list[Tag], AfterValidator(_distinct)] = Field(default_factory=list, max_length=20)


class ModelUpdate(StorableBody):
    """What can change after registering: omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=10_000)
    tags: Annotated[list[Tag], AfterValidator(_distinct)] | None = Field(default=None, max_length=20)


class AliasSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=MAX_VERSION, description="The version the alias is to point at.")


class AliasOut(BaseModel):
    alias: str
    version: int
    updated_at: datetime
    updated_by: str


class AliasEventOut(BaseModel):
    """One change of an alias: set (from null), moved, or removed (to null)."""

    alias: str
    from_version: int | None
    to_version: int | None
    at: datetime
    by: str


class ModelVersionOut(BaseModel):
    name: str
    version: int
    uri: str = Field(description="models:/<name>/<version>, accepted wherever a model is named.")
    aliases: list[str]
    experiment_id: str = Field(description="The run it was registered from.")
    source_run_exists: bool = Field(description="False once that run is deleted; the version keeps its own copy.")
    app: str
    app_version: str | None
    task: str | None = Field(description="forecast or classification: the prediction contract of its app.")
    config: dict[str, Any]
    metrics: dict[str, float | None]
    result: RunResult | None = Field(description="The run's record: verdict, baselines, provenance, stop reason.")
    weights_sha256: str
    description: str
    tags: list[str]
    created_at: datetime
    created_by: str
    input_schema: dict[str, Any] | None = Field(description="JSON Schema of what .../predict takes.")
    output_schema: dict[str, Any] | None = Field(description="JSON Schema of what .../predict answers.")


class ModelSummary(BaseModel):
    name: str
    project_id: str
    description: str
    tags: list[str]
    created_at: datetime
    created_by: str
    latest_version: int | None
    versions: int
    aliases: list[AliasOut]


class ModelOut(ModelSummary):
    version_list: list[ModelVersionOut] = Field(description="Newest first.")
    alias_history: list[AliasEventOut] = Field(description="Every alias change, newest first.")


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    project_id: str
    name: str
    kind: DatasetKind
    sha256: str = Field(description="SHA-256 of the uploaded file: the version (equal bytes, equal version).")
    size: int = Field(description="Bytes of the uploaded file.")
    summary: dict[str, Any] = Field(
        description="csv: columns, numeric_columns, rows; image-folder: classes (images per class), images."
    )
    created_by: str
    created_at: datetime
