"""Plain SQL backups of the configured database (pg_dump) and their restore (psql)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import sqlalchemy

from peek.storage.embedded import program


class BackupError(Exception):
    pass


def libpq_url(url: str) -> str:
    """The URL as libpq tools take it (no SQLAlchemy ``+driver`` part)."""
    return sqlalchemy.engine.make_url(url).set(drivername="postgresql").render_as_string(
        hide_password=False)


def backup(url: str, file: Path, *, exclude_table_data: tuple[str, ...] = (),
           schema_only: bool = False) -> None:
    """Dump the database to ``file`` as plain SQL that drops and recreates
    each object on restore.  ``exclude_table_data`` takes pg_dump patterns
    (``peek.platform_setting``, ``pl_tutorial.*``): their tables are kept,
    their rows left out."""
    args = [program("pg_dump"), "--format=plain", "--clean", "--if-exists",
            "--no-owner", "--no-privileges", "--file", str(file)]
    if schema_only:
        args.append("--schema-only")
    for pattern in exclude_table_data:
        args += ["--exclude-table-data", pattern]
    out = subprocess.run([*args, libpq_url(url)], capture_output=True, text=True)
    if out.returncode:
        raise BackupError(f"pg_dump failed: {out.stderr.strip()}")


def restore(url: str, file: Path) -> None:
    """Run a backup file in one transaction: all of it applies, or none."""
    if not file.is_file():
        raise BackupError(f"{file}: no such backup file")
    out = subprocess.run([program("psql"), "--no-psqlrc", "--quiet", "--single-transaction",
                          "-v", "ON_ERROR_STOP=1", "--file", str(file), libpq_url(url)],
                         capture_output=True, text=True)
    if out.returncode:
        raise BackupError(f"restore from {file} failed and changed nothing: "
                          f"{out.stderr.strip()}")
