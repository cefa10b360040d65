import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import TESTS_DIR

from azuraforge_learner.cli import main
from azuraforge_learner.commands.run import UsageError, build_config

AZURAFORGE = Path(sys.executable).parent / "azuraforge"


def azuraforge(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, in a fresh process that sees the test apps' distribution."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(TESTS_DIR)])}
    return subprocess.run(
        [str(AZURAFORGE), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
    )


def test_run_end_to_end_with_the_console_script(test_apps, tmp_path):
    config_file = tmp_path / "config.yaml"
    config_file.write_text("epochs: 2\nwindow: 6\nrows: 200\n")
    out = tmp_path / "run"
    done = azuraforge(
        test_apps, "run", "sine", "--config", str(config_file), "--set", "horizon=2", "--seed", "5", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert f"report: {out / 'report.md'}" in done.stdout
    assert "status: succeeded (completed)" in done.stdout
    assert "  mae: " in done.stdout
    assert "(strongest baseline persistence (last value): " in done.stdout
    assert "epoch 2/2" in done.stderr  # one line per epoch when stderr is not a terminal
    assert "data: a generated sine of 200 rows" in done.stderr  # the app's INFO log is shown
    saved = json.loads((out / "config.json").read_text())
    assert (saved["epochs"], saved["window"], saved["horizon"], saved["seed"], saved["rows"]) == (2, 6, 2, 5, 200)
    assert (out / "report.md").read_text().startswith("# sine — run report\n\n**Status:** succeeded")


def test_run_writes_into_runs_by_default_and_can_force_the_progress_bar(test_apps, tmp_path):
    done = azuraforge(test_apps, "run", "blobs", "--set", "epochs=1", "--progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("blobs-")
    assert (run_dir / "report.md").exists()
    assert "epoch 1/1" in done.stderr
    assert "batch" in done.stderr


def test_an_invalid_config_exits_non_zero_naming_the_field(test_apps, tmp_path):
    done = azuraforge(
        test_apps, "run", "sine", "--set", "epochs=0", "--set", "scaler=robust", "--out", str(tmp_path / "x")
    )
    assert done.returncode == 2
    assert "invalid config for app 'sine'" in done.stderr
    assert "epochs: Input should be greater than or equal to 1 (got 0)" in done.stderr
    assert "scaler: Input should be 'standard', 'minmax' or 'none' (got 'robust')" in done.stderr
    assert not (tmp_path / "x").exists()


def test_apps_lists_installed_and_broken_apps_and_plugged_in_subcommands_work(test_apps):
    listed = azuraforge(test_apps, "apps")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert any(line.startswith("sine ") and "Forecasts a noisy sine wave" in line for line in lines)
    assert any(line.startswith("broken ") and "nonexistent_dependency" in line for line in lines)

    hello = azuraforge(test_apps, "hello", "world")
    assert hello.returncode == 3
    assert hello.stdout == "hello world\n"
    assert "subcommand 'broken-command' is unavailable" in hello.stderr


def test_in_process_commands_for_unknown_apps_and_app_details(test_apps, capsys):
    assert main(["run", "nope"]) == 2
    assert "no app named 'nope' is installed; installed apps:" in capsys.readouterr().err
    assert main(["apps", "sine"]) == 0
    shown = capsys.readouterr().out
    assert "window = 8  Past rows per forecast." in shown
    assert "seed = 42" in shown
    assert main(["apps", "broken"]) == 2
    assert "nonexistent_dependency" in capsys.readouterr().err


def test_in_process_run_reports_a_crash_with_exit_code_1(test_apps, tmp_path, capsys):
    assert main(["run", "failing", "--set", "epochs=1", "--out", str(tmp_path)]) == 1
    assert "error: the run failed (RuntimeError: evaluation exploded)" in capsys.readouterr().err
    assert "**Status:** failed" in (tmp_path / "report.md").read_text()


def test_build_config_reads_values_as_yaml_and_nests_dotted_fields(tmp_path):
    config = build_config(None, ["epochs=3", "rate=0.5", "flag=true", "name=abc", "none=null", "model.units=[1, 2]"], 9)
    assert config == {
        "epochs": 3,
        "rate": 0.5,
        "flag": True,
        "name": "abc",
        "none": None,
        "model": {"units": [1, 2]},
        "seed": 9,
    }
    file = tmp_path / "c.json"
    file.write_text('{"epochs": 4, "window": 3}')
    assert build_config(file, ["epochs=5"], None) == {"epochs": 5, "window": 3}
    with pytest.raises(UsageError, match="FIELD=VALUE"):
        build_config(None, ["epochs"], None)
    file.write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match="must hold a mapping"):
        build_config(file, [], None)
    with pytest.raises(UsageError, match="cannot read --config"):
        build_config(tmp_path / "missing.yaml", [], None)


def test_version_names_every_azuraforge_package_and_the_runtimes(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    lines = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    for name in ("azuraforge-core", "azuraforge-learner", "python", "numpy", "celery", "fastapi"):
        assert name in lines, name
    assert lines["azuraforge-learner"] == version("azuraforge-learner")
    assert lines["azuraforge-core"] == version("azuraforge-core")
    assert lines["numpy"] == version("numpy")
    assert lines["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
