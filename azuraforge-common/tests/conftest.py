pytest_plugins = ["azuraforge_common.testing"]
