"""The experiment record, the accounts that own it and the model registry, as stored by SQLAlchemy (schema
changes go through migrations/versions)."""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from azuraforge_common import names


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


DEFAULT_PROJECT = "default"
"""The project every record belongs to unless it is created in another (records from before projects are here)."""


def _config_dataset_id(context: Any) -> str | None:
    config = context.get_current_parameters().get("config") or {}
    dataset_id = config.get(DATASET_ID_FIELD) if isinstance(config, dict) else None
    return dataset_id if isinstance(dataset_id, str) else None


DATASET_ID_FIELD = "dataset_id"
"""The config field of apps that train on uploaded datasets (azuraforge_learner.datasets.DatasetId)."""


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_PROJECT)
    app: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(index=True, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    baseline_metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    history: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifacts: Mapped[list[str]] = mapped_column(default=list)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The learner's RunResult as JSON (this package does not import the learner; the API validates it).
    # Null for runs that ended before it was stored or before the run began.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    traceback: Mapped[str | None] = mapped_column(Text, default=None)
    # "worker": an app run by a worker; "external": a run logged through the MLflow tracking API.
    source: Mapped[str] = mapped_column(String(16), default="worker", server_default="worker")
    tracking_experiment_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    # MLflow's soft delete of a run ("active" or "deleted").
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    # A sweep's trial: its batch_id is the sweep's id, and these are Optuna's trial number and sampled values.
    trial_number: Mapped[int | None] = mapped_column(Integer, default=None)
    trial_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Markdown the user writes about the run (PATCH .../{id}).
    notes: Mapped[str] = mapped_column(Text, default="")
    # System metrics as azuraforge_common.events.SystemRecord JSON; null until the run ends.
    system: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The queue (resource class) it was sent to, and the most memory its run took above the worker's idle size.
    queue: Mapped[str] = mapped_column(String(64), default=names.DEFAULT_QUEUE, server_default=names.DEFAULT_QUEUE)
    peak_rss_mb: Mapped[int | None] = mapped_column(Integer, default=None)
    # The uploaded dataset the config names (its `dataset_id`), as a column so that deleting the dataset can
    # find the runs that used it.
    dataset_id: Mapped[str | None] = mapped_column(String(32), index=True, default=_config_dataset_id)

    tag_rows: Mapped[list["ExperimentTag"]] = relationship(
        back_populates="experiment",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by="ExperimentTag.position",
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @tags.setter
    def tags(self, tags: list[str]) -> None:
        self.tag_rows = [ExperimentTag(tag=tag, position=i) for i, tag in enumerate(tags)]


class ExperimentTag(Base):
    """Tags live in their own table so that filtering by tag is one indexed query on every database."""

    __tablename__ = "experiment_tags"

    experiment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    experiment: Mapped[Experiment] = relationship(back_populates="tag_rows")


class IdempotencyKey(Base):
    """The first answer to a POST carrying an Idempotency-Key: its experiment, its grid's batch, or its sweep
    (batch_id is the sweep's id, as it is its trials' batch)."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    experiment_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("experiments.id", ondelete="CASCADE"), default=None
    )
    batch_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person who signs in. No password is ever stored: `password_hash` is argon2id (azuraforge_api.accounts)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True, default=None)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class Project(Base):
    """Groups records; who may see and change them is decided by memberships (site admins see every project)."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    """A user's role in a project: "owner", "editor" or "viewer" (azuraforge_api.auth.ROLES)."""

    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))


class ApiToken(Base):
    """A user's API token. Only its SHA-256 is stored (the token is random, so no slow hash is needed); the
    token itself is shown once, when it is created."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """Who did what to what, and when: logins, token creation and revocation, role changes, deletes."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    project_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TrackingExperiment(Base):
    """An MLflow experiment: the grouping of runs logged through the tracking API (its id is MLflow's
    experiment id; id 0 is MLflow's "Default", made by the migration)."""

    __tablename__ = "tracking_experiments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(32), index=True, default="default")
    name: Mapped[str] = mapped_column(String(500))
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


_RunId = String(32)


class RunMetric(Base):
    """One logged value of an external run's metric; a run logging every batch has many, so rows are narrow and
    inserted in batches, and read by (run, key, step)."""

    __tablename__ = "run_metrics"
    __table_args__ = (Index("ix_run_metrics_run_key_step", "experiment_id", "key", "step"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(_RunId, ForeignKey("experiments.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    # Null stands for NaN, which SQLite cannot store.
    value: Mapped[float | None] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    """Unix milliseconds, as MLflow sends them."""


class RunParam(Base):
    __tablename__ = "run_params"

    experiment_id: Mapped[str] = mapped_column(
        _RunId, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunTag(Base):
    """An external run's MLflow tags (key/value), apart from the platform's plain tags (experiment_tags)."""

    __tablename__ = "run_tags"

    experiment_id: Mapped[str] = mapped_column(
        _RunId, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunInput(Base):
    """A dataset an external run used (MLflow's log-inputs), once per (name, digest)."""

    __tablename__ = "run_inputs"

    experiment_id: Mapped[str] = mapped_column(
        _RunId, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(500), primary_key=True)
    digest: Mapped[str] = mapped_column(String(36), primary_key=True)
    dataset: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LoggedModel(Base):
    """A model an MLflow client logged (MLflow 3's logged models, `mlflow.<flavor>.log_model`). Its files are
    part of its source run's: they live in the run's folder under models/<id>/artifacts/."""

    __tablename__ = "logged_models"

    id: Mapped[str] = mapped_column(String(34), primary_key=True)
    run_id: Mapped[str] = mapped_column(_RunId, ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    tracking_experiment_id: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(500))
    model_type: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(32), default="LOGGED_MODEL_PENDING")
    status_message: Mapped[str] = mapped_column(Text, default="")
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    """The run's step it was logged at (MLflow's log-outputs)."""
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sweep(Base):
    """A hyperparameter search: what to search and how; its trials are experiments whose batch_id is its id, and
    its Optuna study (named by its id) lives in the same database (see azuraforge_common.sweeps)."""

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), index=True, default="default")
    name: Mapped[str] = mapped_column(String(200), default="")
    app: Mapped[str] = mapped_column(String(200))
    base_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    space: Mapped[dict[str, Any]] = mapped_column(default=dict)
    objective_metric: Mapped[str] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(16))
    sampler: Mapped[str] = mapped_column(String(16))
    pruner: Mapped[str] = mapped_column(String(16))
    n_trials: Mapped[int] = mapped_column(Integer)
    parallelism: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer, default=None)
    state: Mapped[str] = mapped_column(String(16), index=True, default="running")
    # The queue its trials are sent to.
    queue: Mapped[str] = mapped_column(String(64), default=names.DEFAULT_QUEUE, server_default=names.DEFAULT_QUEUE)
    created_at: Mapped[datetime] = mapped_column(index=True, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class RegisteredModel(Base):
    """A name that model versions are registered under (created with its first version)."""

    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), index=True, default="default")
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    versions: Mapped[list["ModelVersion"]] = relationship(
        back_populates="model", lazy="selectin", order_by="ModelVersion.version", passive_deletes=True
    )
    aliases: Mapped[list["ModelAlias"]] = relationship(lazy="selectin", order_by="ModelAlias.alias", viewonly=True)


class ModelVersion(Base):
    """One registered run's model: its weights are copied within the artifact store (artifacts.model_key),
    and what the run record said about it is kept here, so deleting the run leaves the version whole."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(String(32), ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    experiment_id: Mapped[str] = mapped_column(String(32), index=True)  # no foreign key: the run may be deleted
    app: Mapped[str] = mapped_column(String(200))
    app_version: Mapped[str | None] = mapped_column(String(100), default=None)
    task: Mapped[str | None] = mapped_column(String(32), default=None)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The run's RunResult as JSON: the verdict, the metrics' declarations, the data provenance and the rest.
    run_result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    weights_sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    model: Mapped[RegisteredModel] = relationship(back_populates="versions")


class ModelAlias(Base):
    """A movable name (production, staging...) for one version of a model."""

    __tablename__ = "model_aliases"

    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    # RESTRICT: a version an alias points at cannot be deleted (the API says so first, with a 409).
    version_id: Mapped[str] = mapped_column(String(32), ForeignKey("model_versions.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class ModelAliasEvent(Base):
    """The audit trail of aliases: every set, move and removal, with the versions before and after."""

    __tablename__ = "model_alias_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("registered_models.id", ondelete="CASCADE"), index=True
    )
    alias: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[int | None] = mapped_column(Integer, default=None)
    to_version: Mapped[int | None] = mapped_column(Integer, default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(100))


class Dataset(Base):
    """A dataset uploaded to a project: one version (the SHA-256 of its bytes) kept in the artifact store at
    azuraforge_common.datasets.dataset_key. The same bytes uploaded again to the project are this row."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "sha256", name="uq_datasets_project_sha256"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_PROJECT)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(index=True, default=utcnow)


class PublishedApp(Base):
    """An app as a process that has it installed (a worker, the model server, `azuraforge up`) last described it,
    so the API serves and checks apps without importing them (see azuraforge_common.catalog)."""

    __tablename__ = "app_catalog"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Apps are installed site-wide: every row is in the default project until apps can be installed per project.
    project_id: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_PROJECT)
    # What the app says of itself (BasePipeline.describe), kept whole; None when it failed to load.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    packages: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the publisher's azuraforge versions
    published_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunLatestMetric(Base):
    """Each external run's latest value of each metric (MLflow's rule: the highest step, then the latest time, then
    the largest value), kept as values are logged, so reading a run costs the same after an hour of logging as
    after a minute."""

    __tablename__ = "run_latest_metrics"

    experiment_id: Mapped[str] = mapped_column(
        _RunId, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)  # null: NaN, as in run_metrics
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
