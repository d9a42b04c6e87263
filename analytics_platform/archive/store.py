"""Where archive files live, behind a small interface so an object store can be added.

Months are UTC months (raw partitions and TimescaleDB chunks are cut on UTC days, so a
UTC month is whole partitions; retention can drop exactly it). The path says so: files
sit under `raw-utc/` in a Hive layout,

    <ARCHIVE_URL>/raw-utc/table=<name>/year=YYYY/month=MM/part-<run>-<n>.parquet

A file is written under a hidden temporary name in its final folder and renamed when
complete, so a crash never leaves a partial file that looks whole (readers list files
from the manifest anyway, `archive.files`).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

LAYOUT_ROOT = "raw-utc"


class ArchiveLocationError(ValueError):
    """ARCHIVE_URL names a location this build cannot write to."""


class ArchiveStore(Protocol):
    """What the writer, verification and readers need from a place that keeps files."""

    def staging_path(self, key: str) -> Path:
        """A local path to write the file for `key` to before it is published."""
        ...

    def publish(self, staged: Path, key: str) -> int:
        """Make the staged file visible under `key` in one step; returns its size."""
        ...

    def read_location(self, key: str) -> str:
        """What DuckDB and polars open to read `key` (a path or URL)."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key` (no error when it is already gone)."""
        ...


def file_key(table: str, month: date, run: str, number: int) -> str:
    """The Hive-layout key of one part file of a table's UTC month."""
    return (
        f"{LAYOUT_ROOT}/table={table}/year={month.year:04d}/month={month.month:02d}/"
        f"part-{run}-{number:05d}.parquet"
    )


class LocalArchiveStore:
    """A folder on a local (or mounted) file system."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"LocalArchiveStore({str(self.root)!r})"

    def _final(self, key: str) -> Path:
        return self.root / key

    def staging_path(self, key: str) -> Path:
        final = self._final(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        # Hidden and without the .parquet suffix: no `part-*.parquet` glob matches it.
        return final.with_name(f".{final.name}.tmp")

    def publish(self, staged: Path, key: str) -> int:
        final = self._final(key)
        with staged.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staged, final)
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return final.stat().st_size

    def read_location(self, key: str) -> str:
        return str(self._final(key))

    def delete(self, key: str) -> None:
        self._final(key).unlink(missing_ok=True)


def open_store(archive_url: str) -> ArchiveStore:
    """The store ARCHIVE_URL names: a folder path or a file:// URL."""
    parts = urlsplit(archive_url)
    if parts.scheme in ("", "file"):
        path = Path(parts.path if parts.scheme == "file" else archive_url)
        return LocalArchiveStore(path.expanduser().resolve())
    raise ArchiveLocationError(
        f"ARCHIVE_URL={archive_url!r}: only local folders (or file:// URLs) are supported; "
        "an object store needs an ArchiveStore implementation in analytics_platform/archive/"
        "store.py (nothing may download a client at run time)"
    )
