"""A short PyTorch training loop logging through mlflow.log_metric. It prints its run id, waits for a line on
stdin before training and another before ending the run, and prints every loss it logged."""

import json
import sys

import mlflow
import torch

torch.manual_seed(0)
x = torch.linspace(-1, 1, 64).unsqueeze(1)
y = 3 * x + 0.5
model = torch.nn.Linear(1, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
mlflow.set_experiment("torch")
with mlflow.start_run(run_name="linear") as run:
    print(run.info.run_id, flush=True)
    sys.stdin.readline()
    mlflow.log_params({"lr": 0.1, "epochs": 20})
    losses = []
    for epoch in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        mlflow.log_metric("loss", loss.item(), step=epoch)
    print(json.dumps(losses), flush=True)
    sys.stdin.readline()
