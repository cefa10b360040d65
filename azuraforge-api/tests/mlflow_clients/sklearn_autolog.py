"""A scikit-learn script with MLflow's autologging and nothing else of MLflow: autolog logs the params, the
training metrics and the fitted model; the model is loaded back by its run and scored on held-out digits.
Prints what it saw as JSON."""

import json

import mlflow
import mlflow.sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

features, labels = load_digits(return_X_y=True)
mlflow.sklearn.autolog()
with mlflow.start_run() as run:
    LogisticRegression(max_iter=300).fit(features[:1200], labels[:1200])
logged = mlflow.MlflowClient().get_run(run.info.run_id)
assert logged.outputs is not None
model = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
print(
    json.dumps(
        {
            "run_id": run.info.run_id,
            "metrics": sorted(logged.data.metrics),
            "params": logged.data.params,
            "models": [output.model_id for output in logged.outputs.model_outputs],
            "held_out_accuracy": float((model.predict(features[1200:]) == labels[1200:]).mean()),
        }
    )
)
