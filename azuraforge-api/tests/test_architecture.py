"""The API talks to the worker through azuraforge_common only: commands, task names and the app catalog, never its
code nor an app's (test_catalog.py serves the API with no app importable)."""

import json
import subprocess
import sys

IMPORT_EVERY_API_MODULE = """
import importlib, json, pkgutil, sys
import azuraforge_api
for module in pkgutil.walk_packages(azuraforge_api.__path__, "azuraforge_api."):
    importlib.import_module(module.name)
print(json.dumps(sorted(name for name in sys.modules if name.startswith(("azuraforge_worker", "azuraforge_app_")))))
"""


def test_no_api_module_imports_the_worker_or_an_app():
    # A fresh interpreter: this test process has imported the worker already (the tests' sine_test app).
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERY_API_MODULE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
