"""An MLflow client script signed in by MLFLOW_TRACKING_TOKEN (an AzuraForge API token). `log PROJECT`: makes an
experiment in that project (tag azuraforge.project) and logs a run into it; `try RUN_ID PROJECT`: tries to read
that run, log into it and make an experiment in that project. Prints what happened as JSON."""

import json
import sys
import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from requests import HTTPError


def error_code(call):
    try:
        call()
    except MlflowException as exc:
        return exc.error_code
    except HTTPError as exc:  # the artifact proxy's client raises requests' own error, with MLflow's answer
        if exc.response is None:
            raise
        return exc.response.json()["error_code"]
    return "OK"


client = MlflowClient()
if sys.argv[1] == "log":
    experiment_id = mlflow.create_experiment("by-token", tags={"azuraforge.project": sys.argv[2]})
    with mlflow.start_run(experiment_id=experiment_id, run_name="editor's") as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("loss", 0.25, step=0)
        notes = Path(tempfile.mkdtemp()) / "notes.txt"
        notes.write_text("logged by an editor\n")
        mlflow.log_artifact(str(notes))
    print(json.dumps({"experiment_id": experiment_id, "run_id": run.info.run_id}))
else:
    run_id, project = sys.argv[2], sys.argv[3]
    seen = {
        "get": error_code(lambda: client.get_run(run_id)),
        "log_metric": error_code(lambda: client.log_metric(run_id, "loss", 1.0)),
        "log_artifact": error_code(lambda: client.log_text(run_id, "x", "planted.txt")),
        "create": error_code(lambda: client.create_experiment("planted", tags={"azuraforge.project": project})),
    }
    print(json.dumps(seen))
