"""Small helpers for the child processes AzuraForge starts: servers, workers, and test fixtures."""

import ctypes
import gc
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

_PR_SET_PDEATHSIG = 1


def freeze_startup_objects() -> None:
    """Moves every object alive now out of the garbage collector's sight, for a long-lived server or worker once it
    has started: its modules and services live as long as the process, and each full collection walked them all
    (hundreds of thousands of objects, 0.1-0.7 s with every thread of the process stopped)."""
    gc.collect()
    gc.freeze()


THREAD_COUNT_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""What numpy's OpenBLAS, and PyTorch or other OpenMP code in an app, read for their thread counts at start."""


def thread_counts(processes: int, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Environment for one of `processes` training processes sharing this machine's CPUs: each numerical library
    starts one thread per CPU, and after a threaded product OpenBLAS's threads spin for ~0.1 s, so N processes
    with all of them took every core N times over (two workers training the CIFAR-shaped CNN at 2 threads each on
    2 cores: 228-296 ms a step; at 1 thread each: 55-57 ms). Variables `environ` sets are the user's and kept."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    share = max(1, cpus // processes)
    return {name: str(share) for name in THREAD_COUNT_VARIABLES if name not in environ}


def die_with_parent() -> None:
    """For `preexec_fn`: on Linux, the child gets SIGTERM when the process that started it dies, even by
    SIGKILL, so no server or worker outlives the command that started it. Elsewhere it does nothing."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(
    ready: Callable[[], bool], timeout_s: float, what: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Polls `ready` until it is true; raises TimeoutError naming `what`, or RuntimeError if `process` exits."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with code {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} was not ready after {timeout_s:.0f} s")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> int:
    """Sends `sig`, waits up to `timeout_s`, then kills; returns the exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
