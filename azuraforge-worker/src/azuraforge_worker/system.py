"""System metrics of a run: each epoch's wall time and samples per second, and the training process's CPU and
memory with the host's load, sampled at each epoch's end and every SAMPLE_INTERVAL_S by a background thread.
Nothing runs per batch.

Each measurement is a system event for watchers; the run's record keeps them all as a SystemRecord. What a
sample costs is measured by benchmarks/system_sampling.py (see the README).
"""

import os
import threading
import time
from collections.abc import Callable

import psutil

from azuraforge_common.events import EpochTiming, SystemEvent, SystemRecord, SystemSample
from azuraforge_learner.callbacks import Callback, Logs

SAMPLE_INTERVAL_S = 5.0
MAX_SAMPLES = 240
"""Periodic samples kept on the record; beyond it every other one is dropped and the interval doubles."""


class Sampler:
    """Reads the process's CPU time and memory and the host load; CPU % is over the time since its last read.
    CPU time comes from os.times (one system call, no /proc parsing), memory from psutil."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.process = psutil.Process()
        self.started = clock()
        self.last_time = self.started
        self.last_cpu = _cpu_seconds()

    def sample(self) -> SystemSample:
        now, cpu = self.clock(), _cpu_seconds()
        span = now - self.last_time
        percent = 100.0 * (cpu - self.last_cpu) / span if span > 0 else 0.0
        self.last_time, self.last_cpu = now, cpu
        return SystemSample(
            elapsed_s=now - self.started,
            cpu_percent=round(percent, 1),
            rss_bytes=self.process.memory_info().rss,
            load1=os.getloadavg()[0],
        )


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class SystemMonitor(Callback):
    """Times epochs (a learner callback) and samples the system in between; `record()` is what was measured."""

    def __init__(
        self,
        experiment_id: str,
        emit: Callable[[SystemEvent], None],
        interval_s: float = SAMPLE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.experiment_id = experiment_id
        self.emit = emit
        self.interval_s = interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._periodic = Sampler(clock)
        self._at_epochs = Sampler(clock)
        self._epochs: list[EpochTiming] = []
        self._samples: list[SystemSample] = []
        self._peak_rss = 0
        self._epoch_started = clock()
        self._samples_per_epoch = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample_forever, name="azuraforge-system", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def on_train_begin(self, logs: Logs) -> None:
        self._samples_per_epoch = int(logs["samples"])

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        self._epoch_started = self.clock()

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        wall = self.clock() - self._epoch_started
        sample = self._at_epochs.sample()
        timing = EpochTiming(
            epoch=epoch + 1,
            wall_s=wall,
            samples_per_s=self._samples_per_epoch / wall if wall > 0 else None,
            system=sample,
        )
        with self._lock:
            self._epochs.append(timing)
            self._peak_rss = max(self._peak_rss, sample.rss_bytes)
        self.emit(SystemEvent(experiment_id=self.experiment_id, sample=sample, epoch=timing))

    def record(self) -> SystemRecord:
        with self._lock:
            walls = [timing.wall_s for timing in self._epochs]
            return SystemRecord(
                epochs=list(self._epochs),
                samples=list(self._samples),
                peak_rss_bytes=self._peak_rss,
                mean_epoch_s=sum(walls) / len(walls) if walls else None,
            )

    def _sample_forever(self) -> None:
        interval = self.interval_s
        while not self._stopped.wait(interval):
            sample = self._periodic.sample()
            with self._lock:
                self._samples.append(sample)
                self._peak_rss = max(self._peak_rss, sample.rss_bytes)
                if len(self._samples) > MAX_SAMPLES:
                    self._samples = self._samples[::2]
                    interval *= 2
            self.emit(SystemEvent(experiment_id=self.experiment_id, sample=sample))
