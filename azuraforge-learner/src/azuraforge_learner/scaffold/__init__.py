"""`azuraforge new-app NAME`: generates a ready plug-in package for a new app from the files in `template/`."""

from azuraforge_learner.scaffold.command import new_app, register
from azuraforge_learner.scaffold.generate import AppNames, ScaffoldError, app_names, generate_app

__all__ = ["AppNames", "ScaffoldError", "app_names", "generate_app", "new_app", "register"]
