"""The one way the API picks a file to serve from an experiment's directory."""

from pathlib import Path


def served_file(root: Path, relative: str) -> Path | None:
    """`root/relative` if, with every symlink followed, it is a regular file inside `root`; otherwise None (it
    is missing, a directory, outside `root`, or a name no file can have, such as one with a NUL byte)."""
    try:
        base = root.resolve()
        file = (base / relative).resolve()
        return file if file.is_relative_to(base) and file.is_file() else None
    except (OSError, ValueError):
        return None
