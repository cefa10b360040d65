"""`azuraforge new-app`: names, generated files, the command, and the generated package installed for real
into a throwaway virtualenv where its own test must pass."""

import site
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from azuraforge_learner.cli import main
from azuraforge_learner.scaffold import ScaffoldError, app_names, generate_app

GENERATED_FILES = [
    "README.md",
    "pyproject.toml",
    "src/azuraforge_app_sales_forecaster/__init__.py",
    "src/azuraforge_app_sales_forecaster/data.py",
    "src/azuraforge_app_sales_forecaster/pipeline.py",
    "src/azuraforge_app_sales_forecaster/py.typed",
    "tests/test_pipeline.py",
]


def _files(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def test_every_name_derives_from_the_app_name():
    names = app_names("sales-forecaster")
    assert names.distribution == "azuraforge-app-sales-forecaster"
    assert names.package == "azuraforge_app_sales_forecaster"
    assert names.class_name == "SalesForecasterPipeline"
    assert names.config_name == "SalesForecasterConfig"
    assert names.title == "Sales forecaster"
    assert app_names("x2", "Does x.").description == "Does x."


@pytest.mark.parametrize("name", ["Sales", "1app", "sales--forecaster", "sales_forecaster", "-sales", "sales-", ""])
def test_bad_names_are_refused_with_an_example(name):
    with pytest.raises(ScaffoldError, match=r"e\.g\. sales-forecaster"):
        app_names(name)


@pytest.mark.parametrize("description", ['say "hi"', "two\nlines", "back\\slash", "  "])
def test_descriptions_that_would_break_the_code_are_refused(description):
    with pytest.raises(ScaffoldError, match="one non-empty line"):
        app_names("demo", description)


def test_generation_fills_every_placeholder(tmp_path):
    root = generate_app(app_names("sales-forecaster", "Forecasts sales."), tmp_path)
    assert root == tmp_path / "azuraforge-app-sales-forecaster"
    assert _files(root) == GENERATED_FILES
    for file in GENERATED_FILES:
        assert "$" not in (root / file).read_text(), file
    pyproject = (root / "pyproject.toml").read_text()
    assert 'sales-forecaster = "azuraforge_app_sales_forecaster:SalesForecasterPipeline"' in pyproject
    assert 'description = "Forecasts sales."' in pyproject
    platform = version("azuraforge-learner")
    assert f'"azuraforge-learner=={platform}"' in pyproject  # an app runs on the release that generated it
    pipeline = (root / "src/azuraforge_app_sales_forecaster/pipeline.py").read_text()
    assert "class SalesForecasterPipeline(TimeSeriesPipeline[SalesForecasterConfig]):" in pipeline
    compile(pipeline, "pipeline.py", "exec")


def test_an_existing_folder_is_left_alone(tmp_path):
    existing = tmp_path / "azuraforge-app-demo"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    with pytest.raises(ScaffoldError, match="already exists"):
        generate_app(app_names("demo"), tmp_path)
    assert _files(tmp_path) == ["azuraforge-app-demo/mine.txt"]


def test_the_command_generates_and_says_what_to_do_next(tmp_path, capsys):
    assert main(["new-app", "demo-app", "--dir", str(tmp_path), "--description", "A demo."]) == 0
    out = capsys.readouterr().out
    assert f"Created {tmp_path / 'azuraforge-app-demo-app'}/" in out
    assert "azuraforge run demo-app" in out
    assert 'description = "A demo."' in (tmp_path / "azuraforge-app-demo-app" / "pyproject.toml").read_text()
    assert main(["new-app", "demo-app", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_the_command_refuses_the_name_of_an_installed_app(tmp_path, capsys, monkeypatch):
    # A real (if minimal) installed distribution that provides the app "taken".
    dist_info = tmp_path / "site" / "taken_app-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: taken-app\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[azuraforge.pipelines]\ntaken = taken_app:Pipeline\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert main(["new-app", "taken", "--dir", str(tmp_path / "out")]) == 2
    assert "an app named 'taken' is already installed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_command_reports_a_bad_name(tmp_path, capsys):
    assert main(["new-app", "Bad_Name", "--dir", str(tmp_path)]) == 2
    assert "e.g. sales-forecaster" in capsys.readouterr().err


@pytest.fixture
def throwaway_python(tmp_path: Path) -> Path:
    """A new virtualenv that also sees this interpreter's packages (the installed core and learner, pip,
    setuptools, pytest) through a .pth file, so installing into it needs no network and touches nothing shared."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    lines = "".join(f"import site; site.addsitedir({path!r})\n" for path in site.getsitepackages())
    (Path(purelib) / "azuraforge-shared.pth").write_text(lines)
    return python


def test_the_generated_app_installs_runs_and_passes_its_own_test(tmp_path, throwaway_python):
    root = generate_app(app_names("sales-forecaster"), tmp_path / "apps")

    def run(*args: str | Path, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([throwaway_python, *args], cwd=cwd, capture_output=True, text=True, timeout=300)

    install = run("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-input", root)
    assert install.returncode == 0, install.stderr
    own_test = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=root)
    assert own_test.returncode == 0, own_test.stdout + own_test.stderr
    assert "3 passed" in own_test.stdout
    cli = run(
        "-c",
        "import sys; from azuraforge_learner.cli import main; sys.exit(main(sys.argv[1:]))",
        "run",
        "sales-forecaster",
        "--set",
        "epochs=2",
        "--out",
        tmp_path / "run",
    )
    assert cli.returncode == 0, cli.stderr
    assert "report:" in cli.stdout
    assert (tmp_path / "run" / "report.md").read_text().startswith("# sales-forecaster")
