"""An ordinary MLflow client script (run in its own process, MLFLOW_TRACKING_URI set): logs two runs and a
killed one, then reads back through search, history and artifacts; prints what it saw as JSON."""

import json
import sys
import tempfile
import time
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

work = Path(tempfile.mkdtemp())
mlflow.set_experiment("vision")
client = MlflowClient()
with mlflow.start_run(run_name="first") as first:
    mlflow.log_params({"lr": "0.01", "layers": "3"})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.set_tag("team", "vision")
    now = int(time.time() * 1000)
    client.log_batch(
        first.info.run_id,
        metrics=[Metric("acc", 0.5 + step / 10, now, step) for step in range(3)],
        params=[Param("batch", "32")],
        tags=[RunTag("stage", "b")],
    )
    notes = work / "notes.txt"
    notes.write_text("weights are elsewhere\n")
    mlflow.log_artifact(str(notes), artifact_path="outputs")
with mlflow.start_run(run_name="second") as second:
    mlflow.log_param("lr", "0.1")
    mlflow.log_metric("loss", 2.0)
    mlflow.set_tag("team", "audio")
experiment = client.get_experiment_by_name("vision")
assert experiment is not None
third = client.create_run(experiment.experiment_id, run_name="third")
client.set_terminated(third.info.run_id, "KILLED")

filtered = mlflow.search_runs(
    experiment_names=["vision"],
    filter_string="metrics.loss < 1 and params.lr = '0.01' and tags.team LIKE 'vis%' "
    "and attributes.status = 'FINISHED'",
    output_format="list",
)
by_loss = client.search_runs([experiment.experiment_id], order_by=["metrics.loss DESC"])
page_one = client.search_runs([experiment.experiment_id], max_results=2, order_by=["attributes.run_name ASC"])
page_two = client.search_runs(
    [experiment.experiment_id], max_results=2, order_by=["attributes.run_name ASC"], page_token=page_one.token
)
downloaded = mlflow.artifacts.download_artifacts(
    run_id=first.info.run_id, artifact_path="outputs", dst_path=str(work / "back")
)
try:
    client.get_run("0" * 32)
    unknown = None
except MlflowException as exc:
    unknown = exc.error_code
try:
    client.log_param(first.info.run_id, "lr", "0.5")
    changed = None
except MlflowException as exc:
    changed = exc.error_code
run = client.get_run(first.info.run_id)
json.dump(
    {
        "first": first.info.run_id,
        "second": second.info.run_id,
        "third": third.info.run_id,
        "experiment_id": experiment.experiment_id,
        "status": run.info.status,
        "artifact_uri": run.info.artifact_uri,
        "params": run.data.params,
        "metrics": run.data.metrics,
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.source")},
        "filtered": [r.info.run_id for r in filtered],
        "by_loss": [r.info.run_name for r in by_loss],
        "pages": [[r.info.run_name for r in page_one], [r.info.run_name for r in page_two], page_two.token],
        "history": [(m.step, m.value) for m in client.get_metric_history(first.info.run_id, "loss")],
        "listed": [(f.path, f.is_dir) for f in client.list_artifacts(first.info.run_id, "outputs")],
        "downloaded": (Path(downloaded) / "notes.txt").read_text(),
        "third_status": client.get_run(third.info.run_id).info.status,
        "unknown": unknown,
        "changed": changed,
    },
    sys.stdout,
)
