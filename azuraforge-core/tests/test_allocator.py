"""Freed memory stays in the process: a training step after the first faults in (almost) no fresh pages.

Each case runs in a fresh process, since the allocator settings are process-wide and set when the first
optimizer is created.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only"
)

STEP_FAULTS = """
import json, resource
import numpy as np
import azuraforge_core as af
from azuraforge_core import Tensor, nn, optim
from azuraforge_core import functional as F

imported_only = af.allocator.keeps_freed_memory()
af.manual_seed(0)
layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, norm_first=True)
optimizer = optim.Adam(layer.parameters())
x = Tensor(np.random.default_rng(0).standard_normal((8, 128, 64)).astype(np.float32))

def step():
    optimizer.zero_grad()
    F.mse_loss(layer(x, is_causal=True), x).backward()
    optimizer.step()

for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
kept = af.allocator.keeps_freed_memory()
print(json.dumps({"imported_only": imported_only, "kept": kept, "faults_per_step": faults}))
"""


def _run(keep: str) -> dict[str, float]:
    env = {**os.environ, "AZURAFORGE_KEEP_FREED_MEMORY": keep}
    result = subprocess.run([sys.executable, "-c", STEP_FAULTS], capture_output=True, text=True, check=True, env=env)
    figures: dict[str, float] = json.loads(result.stdout)
    return figures


def test_a_training_step_reuses_the_pages_the_last_one_freed():
    # Each step allocates 2 MB attention scores and 256 KB-1 MB activations; glibc's defaults unmap or
    # trim them on free, so every step faults them in again (about 1 000 pages a step here).
    kept, default = _run("1"), _run("0")
    assert kept["imported_only"] is False, "importing the library changes nothing; the first optimizer does"
    assert kept["kept"] is True
    assert default["kept"] is False
    assert kept["faults_per_step"] < 50
    assert default["faults_per_step"] > 10 * max(kept["faults_per_step"], 20)
