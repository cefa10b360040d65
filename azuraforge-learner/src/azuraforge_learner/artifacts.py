"""Files a run leaves behind, written atomically: a reader sees the old file or the complete new one, never half.

Every writer goes through `atomic_path`: write to a temporary file in the same directory, then `os.replace` it
over the target (an atomic rename on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from numpy.typing import NDArray

from azuraforge_core import load, save


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to `path` to write to; on a clean exit it replaces `path`, on an error it vanishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[IO[bytes]]:
    """A binary file handle whose content replaces `path` completely once the block ends without error."""
    with atomic_path(path) as temporary, temporary.open("wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_text(path: Path, text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))


def write_json(path: Path, value: Any) -> None:
    # NaN and Infinity are not JSON: browsers and PostgreSQL reject them, so they are refused here already.
    write_text(path, json.dumps(value, indent=2, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def save_weights(path: Path, state: Mapping[str, NDArray[Any]]) -> None:
    """A model's state_dict as the core's .npz format (one array per parameter name)."""
    with atomic_path(path) as temporary:
        save(state, temporary)


def load_weights(path: Path) -> dict[str, NDArray[Any]]:
    """The state_dict saved by `save_weights`, ready for `model.load_state_dict`."""
    return load(path)


def list_files(root: Path) -> list[str]:
    """Every file under `root`, as sorted "/"-separated paths relative to it (temporary files excluded)."""
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not (path.name.startswith(".") and path.name.endswith(".tmp"))
    )
