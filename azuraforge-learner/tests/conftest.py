from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).parent

# What a pip-installed app package would declare; the .dist-info below makes importlib.metadata find it.
ENTRY_POINTS = """\
[azuraforge.pipelines]
sine = sample_apps:SineForecaster
failing = sample_apps:FailingEvaluation
blobs = sample_apps:BlobClassifier
broken = broken_app:Pipeline
not_a_pipeline = sample_apps:NotAPipeline

[azuraforge.commands]
hello = sample_apps:register_hello
broken-command = broken_app:register
"""


def write_test_distribution(root: Path) -> Path:
    """A directory that, on sys.path, holds an installed distribution `azuraforge-test-apps` and a broken module."""
    dist_info = root / "azuraforge_test_apps-0.0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: azuraforge-test-apps\nVersion: 0.0.1\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    (root / "broken_app.py").write_text('raise ImportError("broken_app needs the module nonexistent_dependency")\n')
    return root


@pytest.fixture
def test_apps(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Installs the test apps for one test: returns the directory to put on PYTHONPATH for subprocesses."""
    root = write_test_distribution(tmp_path_factory.mktemp("site-packages"))
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the user's cache."""
    monkeypatch.setenv("AZURAFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("AZURAFORGE_NO_CACHE", raising=False)
