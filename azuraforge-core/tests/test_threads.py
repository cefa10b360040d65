"""set_num_threads / get_num_threads: the default follows the process's CPUs and the environment, and setting it
changes numpy's OpenBLAS. Cases that depend on the environment at start-up run in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

import azuraforge_core as af
from azuraforge_core import threads


def _numpy_blas_threads() -> int | None:
    """numpy's OpenBLAS thread count as threadpoolctl reads it, or None without an OpenBLAS."""
    infos = [i for i in threadpool_info() if i["internal_api"] == "openblas" and "numpy" in i["filepath"]]
    return int(infos[0]["num_threads"]) if infos else None


def _fresh(code: str, **environment: str) -> dict[str, int]:
    """Run `code` (which prints one JSON object) in a new interpreter with these variables set or, when '', unset."""
    env = {k: v for k, v in os.environ.items() if k not in threads.THREAD_LIMIT_VARIABLES}
    env.update({k: v for k, v in environment.items() if v})
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, int] = json.loads(output)
    return result


REPORT = (
    "import json, os, azuraforge_core as af\n"
    "print(json.dumps({'threads': af.get_num_threads(), 'cpus': len(os.sched_getaffinity(0))}))"
)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="affinity masks are Linux's")
def test_default_is_the_cpus_the_process_may_use() -> None:
    result = _fresh(REPORT)
    assert result["threads"] == result["cpus"]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="affinity masks are Linux's")
@pytest.mark.parametrize("variable", threads.THREAD_LIMIT_VARIABLES)
def test_the_environment_caps_the_default(variable: str) -> None:
    assert _fresh(REPORT, **{variable: "1"})["threads"] == 1
    assert _fresh(REPORT, **{variable: "1,1"})["threads"] == 1  # OpenMP's per-level list: the first counts
    # A cap above the CPUs, or one that is not a positive count, leaves the CPUs.
    cpus = len(os.sched_getaffinity(0))
    assert _fresh(REPORT, **{variable: str(cpus + 7)})["threads"] == cpus
    assert _fresh(REPORT, **{variable: "0"})["threads"] == cpus
    assert _fresh(REPORT, **{variable: "many"})["threads"] == cpus


def test_default_num_threads_takes_the_smallest_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert threads.default_num_threads() == 3
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "5")
    assert threads.default_num_threads() == 4
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    assert threads.default_num_threads() == 6


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = af.get_num_threads()
    yield
    af.set_num_threads(before)


@pytest.mark.usefixtures("restore_threads")
def test_set_num_threads_sets_numpy_openblas_and_starts_no_thread() -> None:
    if _numpy_blas_threads() is None:
        pytest.skip("numpy does not use OpenBLAS here")
    running = threading.active_count()
    a = np.random.default_rng(0).standard_normal((300, 300)).astype(np.float32)
    product = a @ a
    for count in (1, 2, 1):
        af.set_num_threads(count)
        assert af.get_num_threads() == count
        assert _numpy_blas_threads() == count
        np.testing.assert_allclose(a @ a, product, rtol=1e-5, atol=1e-4)
    assert threading.active_count() == running  # the threads are OpenBLAS's, not Python's


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True, None])
def test_set_num_threads_refuses_what_is_not_a_positive_int(bad: object) -> None:
    before = af.get_num_threads()
    with pytest.raises(ValueError, match="positive int"):
        af.set_num_threads(bad)  # type: ignore[arg-type]
    assert af.get_num_threads() == before


def test_a_process_started_with_one_blas_thread_stays_on_one() -> None:
    code = (
        "import json, azuraforge_core as af\n"
        "from threadpoolctl import threadpool_info\n"
        "blas = [i['num_threads'] for i in threadpool_info()\n"
        "        if i['internal_api'] == 'openblas' and 'numpy' in i['filepath']]\n"
        "print(json.dumps({'threads': af.get_num_threads(), 'blas': blas[0] if blas else 1}))"
    )
    assert _fresh(code, OPENBLAS_NUM_THREADS="1") == {"threads": 1, "blas": 1}
