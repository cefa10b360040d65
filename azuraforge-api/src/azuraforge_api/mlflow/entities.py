"""Runs and experiments in MLflow's JSON (its .proto messages as proto3 JSON), and the values MLflow's search
language sees for each."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from azuraforge_api.mlflow import store
from azuraforge_api.mlflow.search import Value
from azuraforge_common.events import ExperimentStatus
from azuraforge_common.models import Experiment, RunParam, RunTag, TrackingExperiment

ARTIFACTS_SCHEME = "mlflow-artifacts:/"

MLFLOW_STATUS: dict[str, str] = {
    "queued": "SCHEDULED",
    "running": "RUNNING",
    "succeeded": "FINISHED",
    "failed": "FAILED",
    "cancelled": "KILLED",
}
PLATFORM_STATUS: dict[str, ExperimentStatus] = {
    "SCHEDULED": "queued",
    "RUNNING": "running",
    "FINISHED": "succeeded",
    "FAILED": "failed",
    "KILLED": "cancelled",
}

RUN_NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time", "created"})
RUN_STRING_ATTRIBUTES = frozenset(
    {"run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage", "experiment_id"}
)
EXPERIMENT_NUMERIC_ATTRIBUTES = frozenset({"creation_time", "last_update_time"})
EXPERIMENT_STRING_ATTRIBUTES = frozenset({"name", "experiment_id", "lifecycle_stage"})


def artifact_uri(run_id: str) -> str:
    return f"{ARTIFACTS_SCHEME}{run_id}"


def number(value: float) -> float | str:
    """proto3 JSON's spelling of a double: NaN and the infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def metric_json(metric: store.StoredMetric) -> dict[str, Any]:
    return {"key": metric.key, "value": number(metric.value), "timestamp": metric.timestamp, "step": metric.step}


def experiment_tags(experiment: TrackingExperiment) -> dict[str, str]:
    """Its tags, with its project as the tag that chose it at creation (kept in project_id, not in the tags)."""
    return {**experiment.tags, store.PROJECT_TAG: experiment.project_id}


def experiment_json(experiment: TrackingExperiment) -> dict[str, Any]:
    return {
        "experiment_id": str(experiment.id),
        "name": experiment.name,
        "artifact_location": ARTIFACTS_SCHEME,
        "lifecycle_stage": experiment.lifecycle_stage,
        "creation_time": store.ms(experiment.created_at),
        "last_update_time": store.ms(experiment.updated_at),
        "tags": [{"key": key, "value": value} for key, value in experiment_tags(experiment).items()],
    }


def experiment_value(experiment: TrackingExperiment, kind: str, key: str) -> Value:
    if kind == "tag":
        return experiment_tags(experiment).get(key)
    if kind != "attribute":
        return None
    attributes: dict[str, Value] = {
        "name": experiment.name,
        "experiment_id": str(experiment.id),
        "lifecycle_stage": experiment.lifecycle_stage,
        "creation_time": store.ms(experiment.created_at),
        "last_update_time": store.ms(experiment.updated_at),
    }
    return attributes.get(key)


@dataclass
class RunView:
    """One run with everything MLflow shows of it."""

    run: Experiment
    metrics: dict[str, store.StoredMetric] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def attributes(self) -> dict[str, Value]:
        run = self.run
        return {
            "run_id": run.id,
            "run_name": run.name,
            "status": MLFLOW_STATUS[run.status],
            "user_id": self.tags.get("mlflow.user", ""),
            "artifact_uri": artifact_uri(run.id),
            "lifecycle_stage": run.lifecycle_stage,
            "experiment_id": str(run.tracking_experiment_id),
            "start_time": store.ms(run.started_at or run.created_at),
            "created": store.ms(run.created_at),
            "end_time": store.ms(run.finished_at),
        }

    def value(self, kind: str, key: str) -> Value:
        if kind == "metric":
            metric = self.metrics.get(key)
            return None if metric is None else metric.value
        if kind == "param":
            return self.params.get(key)
        if kind == "tag":
            return self.tags.get(key)
        return self.attributes.get(key)

    def info_json(self) -> dict[str, Any]:
        attributes = self.attributes
        info = {
            "run_id": self.run.id,
            "run_uuid": self.run.id,
            "run_name": self.run.name,
            "experiment_id": attributes["experiment_id"],
            "user_id": attributes["user_id"],
            "status": attributes["status"],
            "start_time": attributes["start_time"],
            "artifact_uri": attributes["artifact_uri"],
            "lifecycle_stage": self.run.lifecycle_stage,
        }
        if attributes["end_time"] is not None:
            info["end_time"] = attributes["end_time"]
        return info

    def json(self, inputs: Sequence[dict[str, Any]] = (), outputs: Sequence[tuple[str, int]] = ()) -> dict[str, Any]:
        return {
            "info": self.info_json(),
            "data": {
                "metrics": [metric_json(metric) for metric in self.metrics.values()],
                "params": [{"key": key, "value": value} for key, value in self.params.items()],
                "tags": [{"key": key, "value": value} for key, value in self.tags.items()],
            },
            "inputs": {"dataset_inputs": list(inputs)},
            "outputs": {"model_outputs": [{"model_id": model_id, "step": step} for model_id, step in outputs]},
        }


def run_views(session: Session, runs: Sequence[Experiment]) -> list[RunView]:
    """The runs with their latest metrics, params and tags, in four queries however many runs there are."""
    ids = [run.id for run in runs]
    metrics = store.latest_metrics(session, ids)
    params = store.key_values(session, RunParam, ids)
    tags = store.key_values(session, RunTag, ids)
    return [RunView(run, metrics[run.id], params[run.id], tags[run.id]) for run in runs]


def run_json(session: Session, run: Experiment) -> dict[str, Any]:
    (view,) = run_views(session, [run])
    inputs = [
        {"tags": [{"key": k, "value": v} for k, v in entry.tags.items()], "dataset": entry.dataset}
        for entry in store.run_inputs(session, run.id)
    ]
    return view.json(inputs, store.run_outputs(session, run.id))
