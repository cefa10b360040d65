import os
import signal
import subprocess
from typing import ClassVar

from azuraforge_common.processes import THREAD_COUNT_VARIABLES
from azuraforge_worker import command


class RecordedChild:
    """Stands in for a worker process: records its environment and exits at once."""

    environments: ClassVar[list[dict[str, str]]] = []

    def __init__(self, args, env, stdin):
        self.environments.append(env)

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0

    def send_signal(self, signum):
        pass


def test_workers_started_together_split_the_cpus_between_their_numerical_threads(monkeypatch):
    monkeypatch.setattr(subprocess, "Popen", RecordedChild)
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # the handlers would stay on pytest's process
    for name in THREAD_COUNT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice stays

    assert command._run_several("w", "INFO", ["cpu"], 2) == 0

    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    started = RecordedChild.environments
    assert [(env["OPENBLAS_NUM_THREADS"], env["OMP_NUM_THREADS"]) for env in started] == [(share, "3")] * 2
