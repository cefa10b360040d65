"""Subcommands of `azuraforge` provided by the learner, registered through the `azuraforge.commands` entry points."""
