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


def writable_file(root: Path, relative: str) -> Path | None:
    """Where to write `root/relative`: the path, if with every existing symlink followed it stays inside `root`
    and is not a directory; otherwise None (so an upload can never land outside the run's folder)."""
    try:
        base = root.resolve()
        file = (base / relative).resolve()
        return file if file.is_relative_to(base) and file != base and not file.is_dir() else None
    except (OSError, ValueError):
        return None


def listed_directory(root: Path, relative: str) -> Path | None:
    """`root/relative` if it is a directory inside `root` (symlinks followed), else None."""
    try:
        base = root.resolve()
        directory = (base / relative).resolve()
        return directory if directory.is_relative_to(base) and directory.is_dir() else None
    except (OSError, ValueError):
        return None
