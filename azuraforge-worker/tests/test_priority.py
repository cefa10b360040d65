"""Training runs in a thread of its own, made nicer than the worker's other threads (Linux)."""

import os
import threading

import pytest

from azuraforge_worker.priority import in_training_thread


def nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_training_runs_in_another_thread_made_nicer_while_the_caller_keeps_its_priority():
    before = nice_of_this_thread()
    seen = in_training_thread(lambda: (threading.get_ident(), nice_of_this_thread()), 5)
    assert seen[0] != threading.get_ident()
    assert seen[1] == min(19, before + 5)
    assert nice_of_this_thread() == before


def test_the_nice_value_stops_at_19_and_zero_changes_nothing():
    before = nice_of_this_thread()
    assert in_training_thread(nice_of_this_thread, 40) == 19
    assert in_training_thread(nice_of_this_thread, 0) == before


def test_an_exception_of_training_is_raised_in_the_caller():
    def fail() -> None:
        raise KeyError("no such column")

    with pytest.raises(KeyError, match="no such column"):
        in_training_thread(fail, 10)
