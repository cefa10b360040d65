import os

import pytest

from azuraforge_common.processes import THREAD_COUNT_VARIABLES, thread_counts


def cpus() -> int:
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize("processes", [1, 2, 3, 64])
def test_training_processes_share_the_cpus_between_them(processes):
    expected = str(max(1, cpus() // processes))
    assert thread_counts(processes, environ={}) == dict.fromkeys(THREAD_COUNT_VARIABLES, expected)


def test_a_thread_count_the_user_set_is_kept():
    assert thread_counts(2, environ={"OMP_NUM_THREADS": "3"}) == {"OPENBLAS_NUM_THREADS": str(max(1, cpus() // 2))}
    assert thread_counts(2, environ=dict.fromkeys(THREAD_COUNT_VARIABLES, "1")) == {}
