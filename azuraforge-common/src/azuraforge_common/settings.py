"""The one place AzuraForge's services read their configuration: AZURAFORGE_* environment variables."""

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from azuraforge_common import names
from azuraforge_common.artifacts import ArtifactStore, open_store, parse_s3_url

QUEUE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def check_queue_name(queue: str) -> str:
    if not QUEUE_NAME.fullmatch(queue):
        raise ValueError(f"queue name {queue!r} must be 1-63 lowercase letters, digits, '-' or '_'")
    return queue


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AZURAFORGE_", extra="ignore")

    redis_url: str | None = Field(
        default=None, description="redis://host:port/db; `azuraforge up` starts its own Redis when unset."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite at DATA_DIR/azuraforge.db when unset."
    )
    data_dir: Path = Field(default=Path.home() / ".azuraforge", description="Artifacts, SQLite, embedded Redis.")
    artifact_store: str | None = Field(
        default=None,
        description="s3://bucket/prefix keeps runs' files in an S3-compatible bucket (endpoint and credentials "
        "from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...); unset, they stay under DATA_DIR.",
    )
    api_token: str | None = Field(
        default=None,
        description="A bootstrap admin token: when set, every API call must present it or an account's credentials.",
    )
    session_secret: str | None = Field(
        default=None,
        description="Signs login sessions; a random one is kept in DATA_DIR/session-secret when unset (set it when "
        "API processes do not share the data directory).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed to call the API from a browser."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Comma-separated host names the API answers to when no API token is set (against DNS "
        "rebinding); add the machine's name to reach a token-less API from elsewhere.",
    )
    queues: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [names.DEFAULT_QUEUE, "gpu", "long"],
        description="Comma-separated queues (resource classes) experiments may ask for; the first is the default. "
        "A worker serves all of them unless started with --queues.",
    )
    worker_memory_mb: int | None = Field(
        default=None,
        gt=0,
        description="The memory a worker may use (its container's limit); unset, the machine's available memory. "
        "A worker leaves a run it cannot fit to another instead of being killed mid-run.",
    )
    dashboard_dir: Path | None = Field(default=None, description="The dashboard's built files, served at /.")
    heartbeat_ttl_s: float = Field(default=30.0, gt=0, description="A running experiment's heartbeat lifetime.")
    reaper_interval_s: float = Field(default=10.0, gt=0, description="How often the API looks for lost runs.")
    tracking_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="A run logged through the MLflow tracking API that makes no call for this long is marked "
        "failed (its client is gone).",
    )
    sweep_interval_s: float = Field(
        default=5.0, gt=0, description="How often the API advances every unfinished sweep (see its README)."
    )
    database_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest wait for a database connection or SQLite's write lock (then 503)."
    )
    visibility_timeout_s: int = Field(
        default=600,
        gt=0,
        description="After this long Redis hands an unacknowledged task out again: a killed worker's task is "
        "then dropped (its run is no longer queued), and a finished run's worker retries recording it at most this "
        "long. A copy of a task still running is dropped the same way, so this need not exceed the longest run.",
    )

    training_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How much lower the CPU priority of a worker's training thread is than its other threads (Linux "
        "nice increments): its event publisher, and the API and Redis where they share a scheduling group with it, "
        "run first when training holds every core. 0 trains at equal priority.",
    )
    predict_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait for the model server's answer to a prediction (then 503): it covers loading a "
        "model that is not cached yet.",
    )

    @field_validator("cors_origins", "allowed_hosts", "queues", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "api_token", "session_secret", "redis_url", "database_url", "artifact_store", "worker_memory_mb", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("queues")
    @classmethod
    def _queue_names(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("AZURAFORGE_QUEUES lists no queue; name at least one, such as cpu")
        for queue in value:
            check_queue_name(queue)
        return value

    @property
    def default_queue(self) -> str:
        return self.queues[0]

    @field_validator("artifact_store")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_s3_url(value)
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'azuraforge.db'}"

    def artifacts(self) -> ArtifactStore:
        """A client of the artifact store (make one per process and keep it)."""
        return open_store(self.artifact_store, self.data_dir)

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise RuntimeError(
                "AZURAFORGE_REDIS_URL is not set: point it at a Redis server (redis://host:6379/0), "
                "or start everything with `azuraforge up`, which starts its own Redis."
            )
        return self.redis_url
