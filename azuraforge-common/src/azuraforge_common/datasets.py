"""Datasets users upload: checked, fingerprinted and kept in the artifact store.

A dataset's version is the SHA-256 of its uploaded bytes. A project keeps each version once, as one object at
`datasets/<project>/<sha256>/<file>` (the CSV itself, or the zip of class folders as uploaded); a worker
downloads it into its cache, checks the hash, and unpacks a zip there with the same checks as the upload.
"""

import csv
import hashlib
import io
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from azuraforge_common.artifacts import ArtifactStore

DatasetKind = Literal["csv", "image-folder"]
KIB = 1024
MIB = KIB * KIB
MAX_CSV_BYTES = 32 * MIB
MAX_ZIP_BYTES = 64 * MIB
MAX_UPLOAD_BYTES = max(MAX_CSV_BYTES, MAX_ZIP_BYTES)
MAX_UNZIPPED_BYTES = 256 * MIB
"""A zip bomb expands far beyond its size: the declared sizes are summed before anything is unpacked, and the
bytes actually written are counted against the same budget."""
MAX_ZIP_FILES = 20_000
MIN_CSV_ROWS = 2
FILE_NAMES: dict[DatasetKind, str] = {"csv": "data.csv", "image-folder": "images.zip"}
IMAGES_FOLDER = "images"
# File signatures of the formats the image classifier reads (PNG, JPEG, GIF, BMP, TIFF, WebP).
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
# What archivers add beside the files (macOS resource forks, Explorer metadata), skipped like hidden files (whose
# folders the image classifier does not read either).
ARCHIVER_LITTER = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})


class DatasetError(ValueError):
    """The upload cannot be used; the message names what is wrong and what to send instead."""


def dataset_prefix(project_id: str, sha256: str) -> str:
    return f"datasets/{project_id}/{sha256}/"


def dataset_key(project_id: str, sha256: str, kind: DatasetKind) -> str:
    return f"{dataset_prefix(project_id, sha256)}{FILE_NAMES[kind]}"


def summarize(kind: DatasetKind, data: bytes) -> dict[str, Any]:
    """What the upload holds (csv: columns, numeric columns and rows; image-folder: images per class), or
    DatasetError saying why it cannot be used."""
    limit = MAX_CSV_BYTES if kind == "csv" else MAX_ZIP_BYTES
    if len(data) > limit:
        raise DatasetError(f"the file is {len(data)} bytes; a {kind} dataset may have at most {limit // MIB} MiB")
    if not data:
        raise DatasetError("the file is empty")
    return _summarize_csv(data) if kind == "csv" else _summarize_zip(data)


def _summarize_csv(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"the CSV is not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8"
        ) from None
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(rows, [])]
        if not header or any(not name for name in header):
            raise DatasetError("the CSV's first line must be a header naming every column, e.g. Date,Open,Close")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise DatasetError(f"the CSV header names column(s) {', '.join(duplicates)} twice; rename them")
        numeric = [True] * len(header)
        count = 0
        for row in rows:
            if not row:
                continue  # a blank line
            count += 1
            if len(row) != len(header):
                raise DatasetError(
                    f"CSV line {rows.line_num} has {len(row)} fields but the header has {len(header)}; every line "
                    "needs one value per column"
                )
            for position, value in enumerate(row):
                numeric[position] = numeric[position] and _is_number(value)
    except csv.Error as exc:
        raise DatasetError(f"the CSV cannot be parsed: {exc}") from None
    if count < MIN_CSV_ROWS:
        raise DatasetError(f"the CSV has {count} data row(s); at least {MIN_CSV_ROWS} are needed")
    return {
        "columns": header,
        "numeric_columns": [name for name, is_number in zip(header, numeric, strict=True) if is_number],
        "rows": count,
    }


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def missing_columns(summary: dict[str, Any], columns: list[str]) -> list[str]:
    """The columns of `columns` a CSV dataset lacks; all but the first (the time column) must be numeric."""
    present, numeric = summary.get("columns", []), summary.get("numeric_columns", [])
    absent = [name for name in columns if name not in present]
    not_numbers = [f"{name} (not all numbers)" for name in columns[1:] if name in present and name not in numeric]
    return absent + not_numbers


def _summarize_zip(data: bytes) -> dict[str, Any]:
    with _open_zip(data) as archive:
        images = _image_members(archive)
        counts: dict[str, int] = {}
        for _, relative in images:
            counts[relative.parts[0]] = counts.get(relative.parts[0], 0) + 1
    if len(counts) < 2:
        found = f"only class {next(iter(counts))!r}" if counts else "no images"
        raise DatasetError(
            f"the zip holds {found}; a classifier needs at least two class folders with images "
            "(e.g. cats/1.png, dogs/1.png)"
        )
    return {"classes": dict(sorted(counts.items())), "images": len(images)}


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"the file is not a readable zip archive ({exc}); upload a .zip of class folders") from None


def _image_members(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every image of the archive with its path below the class folders (class/.../file), after the checks: no
    path leaving the folder, no links, limited count and unpacked size, nothing but images."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > MAX_ZIP_FILES:
        raise DatasetError(f"the zip holds {len(members)} files; at most {MAX_ZIP_FILES} are allowed")
    unpacked = sum(info.file_size for info in members)
    if unpacked > MAX_UNZIPPED_BYTES:
        raise DatasetError(f"the zip unpacks to {unpacked} bytes; at most {MAX_UNZIPPED_BYTES // MIB} MiB are allowed")
    paths = []
    for info in members:
        name = info.filename
        path = PurePosixPath(name)
        if "\\" in name or "\0" in name or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
            raise DatasetError(f"zip entry {name[:200]!r} leads out of the archive's folder; remove it")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DatasetError(f"zip entry {name[:200]!r} is a symbolic link; zip the files themselves")
        if not any(part in ARCHIVER_LITTER or part.startswith(".") for part in path.parts):
            paths.append((info, path))
    # A zip of one folder holding the class folders: that folder is the root.
    tops = {path.parts[0] for _, path in paths}
    strip = 1 if len(tops) == 1 and all(len(path.parts) > 2 for _, path in paths) else 0
    images = []
    for info, path in paths:
        relative = PurePosixPath(*path.parts[strip:])
        if len(relative.parts) < 2:
            raise DatasetError(
                f"zip entry {info.filename[:200]!r} is not inside a class folder; put every image in a folder "
                "named after its class"
            )
        with archive.open(info) as handle:
            head = handle.read(12)
        if not (head.startswith(IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):
            raise DatasetError(
                f"zip entry {info.filename[:200]!r} is not an image (PNG, JPEG, GIF, BMP, TIFF or WebP); remove it"
            )
        images.append((info, relative))
    return images


def materialize(store: ArtifactStore, project_id: str, sha256: str, kind: DatasetKind, cache_dir: Path) -> Path:
    """The dataset on this disk, under `cache_dir`/<sha256>: the CSV file, or the folder of class folders.
    Downloaded once (a later run reuses it) and checked against its SHA-256; DatasetError if it is missing from
    the store or its bytes changed."""
    final = cache_dir / sha256
    path = final / (FILE_NAMES[kind] if kind == "csv" else IMAGES_FOLDER)
    if path.exists():
        return path
    stored = store.open(dataset_key(project_id, sha256, kind))
    if stored is None:
        raise DatasetError(f"dataset version {sha256} is missing from the artifact store; upload it again")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".partial-"))
    try:
        download = partial / FILE_NAMES[kind]
        digest = hashlib.sha256()
        with download.open("wb") as handle:
            for chunk in stored.chunks:
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != sha256:
            raise DatasetError(
                f"dataset version {sha256} changed in the artifact store (its bytes hash to {digest.hexdigest()}); "
                "upload the dataset again"
            )
        if kind == "image-folder":
            _unpack(download.read_bytes(), partial / IMAGES_FOLDER)
            download.unlink()
        try:
            partial.rename(final)
        except OSError:
            if not path.exists():  # not another worker's copy arriving first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return path


def _unpack(data: bytes, target: Path) -> None:
    with _open_zip(data) as archive:
        budget = MAX_UNZIPPED_BYTES
        for info, relative in _image_members(archive):
            destination = target.joinpath(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, destination.open("wb") as handle:
                for chunk in _chunks(source):
                    budget -= len(chunk)
                    if budget < 0:
                        raise DatasetError(f"the zip unpacks to more than {MAX_UNZIPPED_BYTES // MIB} MiB")
                    handle.write(chunk)


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    while chunk := source.read(MIB):
        yield chunk
