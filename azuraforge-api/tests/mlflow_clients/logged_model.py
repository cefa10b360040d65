"""An MLflow 3 client script logging a model as any training script would (`mlflow.pyfunc.log_model` inside a
run), loading it back by both of MLflow's URIs and predicting with it, then tagging, searching and deleting it.
Prints what it saw as JSON."""

import json

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.model import PythonModel


class AddOne(PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input + 1


client = MlflowClient()
with mlflow.start_run(run_name="with a model") as run:
    mlflow.log_param("lr", "0.1")
    for step, loss in enumerate([0.5, 0.25]):
        mlflow.log_metric("loss", loss, step=step)
    info = mlflow.pyfunc.log_model(name="adder", python_model=AddOne(), step=1)
run_id, experiment_id = run.info.run_id, run.info.experiment_id
frame = pd.DataFrame({"x": [1.0, 2.0]})
by_id = mlflow.pyfunc.load_model(info.model_uri).predict(frame)["x"].tolist()
by_run = mlflow.pyfunc.load_model(f"runs:/{run_id}/adder").predict(frame)["x"].tolist()

client.set_logged_model_tags(info.model_id, {"stage": "candidate"})
model = client.get_logged_model(info.model_id)
found = client.search_logged_models(experiment_ids=[experiment_id], filter_string="tags.stage = 'candidate'")
missed = client.search_logged_models(experiment_ids=[experiment_id], filter_string="name = 'other'")
outputs = client.get_run(run_id).outputs
assert outputs is not None
history = [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")]
client.delete_logged_model(info.model_id)
try:
    client.get_logged_model(info.model_id)
    deleted = "still there"
except MlflowException as exc:
    deleted = exc.error_code
print(
    json.dumps(
        {
            "run_id": run_id,
            "model_id": info.model_id,
            "model_uri": info.model_uri,
            "by_id": by_id,
            "by_run": by_run,
            "status": str(model.status),
            "name": model.name,
            "source_run_id": model.source_run_id,
            "artifact_location": model.artifact_location,
            "tags": model.tags,
            "params": model.params,
            "found": [m.model_id for m in found],
            "missed": [m.model_id for m in missed],
            "outputs": [(o.model_id, o.step) for o in outputs.model_outputs],
            "history": history,
            "deleted": deleted,
        }
    )
)
