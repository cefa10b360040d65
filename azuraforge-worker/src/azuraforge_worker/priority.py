"""Training runs in a thread of its own, at a lower CPU priority than the worker's other threads.

When trainings hold every core, the worker's event publisher is one more thread waiting for one, and its first
competitor is the training thread of its own process. Linux gives each thread its own nice value, so only the
training thread is made nicer (`AZURAFORGE_TRAINING_NICE`, 10 by default): a woken publisher then runs ahead of
it, and with nothing else to run training still gets every cycle. Processes that share a scheduling group (no
autogroup, or one session or container) also see the API and Redis run ahead of training. With the API's load
benchmark (200 watchers, two trainings on 2 cores) the worker's share of the live delay fell from p99
9.6–41 ms to 8.3–14.7 ms; the whole worker made nicer instead, its publisher included, did not help (29–39 ms).

A thread's priority can only be lowered without privileges, never raised back: so each run gets a new thread,
and the worker's main thread, which starts the next run's publisher, keeps its own.
"""

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def lower_this_thread(increment: int) -> None:
    """Makes the calling thread `increment` nicer (at most 19) on Linux; elsewhere the nice value is the
    process's, so nothing changes."""
    if increment <= 0 or sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + increment))
    except OSError as exc:
        log.warning("could not lower the training thread's priority (%s); training at the worker's", exc)


def in_training_thread(train: Callable[[], T], nice: int) -> T:
    """`train()` run in a new thread made `nice` nicer than this one: its result, or its exception raised here.

    The thread is a daemon, so a worker told to stop at once (a second SIGTERM) exits without waiting for it, as
    it did when training ran in the main thread; a first SIGTERM reaches the main thread while it waits here."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        lower_this_thread(nice)
        try:
            outcome.append(train())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="azuraforge-training", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
