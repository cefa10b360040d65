"""Starts a run, logs one metric, prints the run id, then waits to be killed without ending the run."""

import time

import mlflow

run = mlflow.start_run(run_name="abandoned")
mlflow.log_metric("loss", 0.5, step=0)
print(run.info.run_id, flush=True)
time.sleep(600)
