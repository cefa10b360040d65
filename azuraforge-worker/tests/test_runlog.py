"""The run log (run.log and live log events) and system metrics, in this process and in a real Celery worker,
against a real Redis and SQLite."""

import logging
import sys
import threading
import warnings

from conftest import artifact, events, load, queue, wait_for

from azuraforge_common import names
from azuraforge_common.events import EpochEndEvent, LogEvent, StatusEvent, SystemEvent, SystemRecord
from azuraforge_worker import runner
from azuraforge_worker.runlog import RunLog, capture_run_output
from azuraforge_worker.system import SystemMonitor


def live_lines(published):
    """Line number -> text of every line sent live, and the held-back announcements (first line, count)."""
    sent, held = {}, []
    for event in published:
        if isinstance(event, LogEvent):
            if event.held_back:
                held.append((event.first_line, event.held_back))
            sent.update({event.first_line + i: line for i, line in enumerate(event.lines)})
    return sent, held


def run_log(services, experiment_id):
    return artifact(services, experiment_id, names.RUN_LOG_FILE).decode().splitlines()


def test_what_a_run_prints_logs_and_warns_is_in_its_run_log_and_streamed_in_order_with_system_metrics(services):
    experiment_id = queue(services, {"epochs": 2, "chatter": 3})
    assert runner.run_experiment(services, experiment_id) == "succeeded"

    lines = run_log(services, experiment_id)
    assert [line.split(" ", 1)[1] for line in lines if "stdout:" in line] == [
        f"INFO stdout: epoch {epoch} line {line}" for epoch in (1, 2) for line in (1, 2, 3)
    ]
    assert sum("INFO azuraforge_worker.testing: epoch 1 begins" in line for line in lines) == 1
    assert sum("ERROR stderr: epoch 2 on stderr" in line for line in lines) == 1
    assert any("WARNING warnings:" in line and "sine_test warns at epoch 1" in line for line in lines)
    assert names.RUN_LOG_FILE in load(services, experiment_id).artifacts

    published = events(services, experiment_id)
    sent, held = live_lines(published)
    assert held == []
    assert sent == dict(enumerate(lines, start=1)), "every line, numbered as stored"
    assert isinstance(published[-1], StatusEvent)
    assert published[-1].final, "no log event after the final one"

    system = SystemRecord.model_validate(load(services, experiment_id).system)
    assert [timing.epoch for timing in system.epochs] == [1, 2]
    assert all(timing.wall_s > 0 and timing.samples_per_s and timing.samples_per_s > 0 for timing in system.epochs)
    assert system.peak_rss_bytes >= max(t.system.rss_bytes for t in system.epochs) > 10_000_000
    assert system.mean_epoch_s == sum(t.wall_s for t in system.epochs) / 2
    live = [event for event in published if isinstance(event, SystemEvent)]
    assert [event.epoch for event in live if event.epoch] == system.epochs, "the events carry what the record keeps"
    assert [event.sample for event in live if not event.epoch] == system.samples


def test_a_failed_run_logs_its_traceback(services):
    experiment_id = queue(services, {"epochs": 3, "fail_at_epoch": 2})
    assert runner.run_experiment(services, experiment_id) == "failed"
    text = "\n".join(run_log(services, experiment_id))
    assert f"ERROR azuraforge_worker.runner: experiment {experiment_id} failed" in text
    assert "Traceback (most recent call last):" in text
    assert "RuntimeError: sine_test was told to fail at epoch 2" in text
    assert names.RUN_LOG_FILE in load(services, experiment_id).artifacts


def test_lines_beyond_the_cap_are_held_back_and_announced_but_kept_in_the_file(services):
    experiment_id = queue(services, {"epochs": 2, "chatter": 400})
    assert runner.run_experiment(services, experiment_id) == "succeeded"
    lines = run_log(services, experiment_id)
    assert sum("stdout: epoch" in line for line in lines) == 800
    sent, held = live_lines(events(services, experiment_id))
    assert held, "a chatty run is rate-limited"
    assert all(lines[number - 1] == line for number, line in sent.items())
    held_numbers = {number for first, count in held for number in range(first, first + count)}
    assert held_numbers.isdisjoint(sent), "a line is either sent or counted as held back"
    assert held_numbers | set(sent) == set(range(1, len(lines) + 1)), "and none is lost"


def test_the_cap_applies_per_second(tmp_path):
    clock = [0.0]
    emitted: list[LogEvent] = []
    log = RunLog(tmp_path / "run.log", "x", emitted.append, lines_per_s=5, clock=lambda: clock[0])
    log._closed.set()  # drive the flushes by hand, with the fake clock
    log._thread.join()
    for second in range(2):
        clock[0] = float(second)
        for i in range(8):
            log.write("stdout", "INFO", f"s{second} n{i}")
        log._flush(final=False)
    log.close()
    assert [(e.first_line, len(e.lines), e.held_back) for e in emitted] == [(1, 5, 0), (6, 0, 3), (9, 5, 0), (14, 0, 3)]
    assert len((tmp_path / "run.log").read_text().splitlines()) == 16


def test_other_threads_output_is_not_the_runs(tmp_path, capsys):
    emitted: list[LogEvent] = []
    log = RunLog(tmp_path / "run.log", "x", emitted.append)
    with capture_run_output(log):
        print("mine")

        def elsewhere():
            print("not mine")
            logging.getLogger("other").warning("nor this")

        other = threading.Thread(target=elsewhere)
        other.start()
        other.join()
        warnings.warn("careful", UserWarning, stacklevel=1)
        sys.stdout.write("no newline yet")
    log.close()
    text = (tmp_path / "run.log").read_text()
    assert "stdout: mine" in text
    assert "stdout: no newline yet" in text
    assert "careful" in text
    assert "not mine" not in text
    assert "nor this" not in text
    assert "not mine" in capsys.readouterr().out


def test_periodic_samples_are_thinned_when_long(monkeypatch):
    monkeypatch.setattr("azuraforge_worker.system.MAX_SAMPLES", 4)
    emitted: list[SystemEvent] = []
    monitor = SystemMonitor("x", emitted.append, interval_s=0.01)
    monitor.start()
    wait_for(lambda: len(emitted) >= 12, 30, "12 samples")
    monitor.stop()
    record = monitor.record()
    assert 1 <= len(record.samples) <= 5
    assert record.samples == sorted(record.samples, key=lambda s: s.elapsed_s)
    assert record.peak_rss_bytes == max(event.sample.rss_bytes for event in emitted)


def test_a_celery_worker_streams_the_run_log_live(services, start_worker, send):
    start_worker()
    experiment_id = queue(services, {"epochs": 3, "chatter": 2, "epoch_sleep_s": 0.3})
    send(experiment_id)

    def first_log_before_the_end():
        published = events(services, experiment_id)
        return any(isinstance(e, LogEvent) for e in published) and not any(
            isinstance(e, StatusEvent) and e.final for e in published
        )

    wait_for(first_log_before_the_end, 120, "a log event while the run trains")
    wait_for(lambda: load(services, experiment_id).status == "succeeded", 120, "the run to succeed")
    lines = run_log(services, experiment_id)
    published = events(services, experiment_id)
    sent, held = live_lines(published)
    assert held == []
    assert sent == dict(enumerate(lines, start=1))
    assert sum("stdout: epoch" in line for line in lines) == 6
    assert [e.epoch for e in published if isinstance(e, EpochEndEvent)] == [1, 2, 3]
    system = SystemRecord.model_validate(load(services, experiment_id).system)
    assert len(system.epochs) == 3
