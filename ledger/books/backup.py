"""Back up the whole database to a file, and restore one into an empty database.

SQLite is copied with its online backup API (`sqlite3.Connection.backup`): a
consistent copy of a live database, writers included, into a SQLite file.
PostgreSQL is dumped with `pg_dump --format=custom` and loaded with
`pg_restore` in one transaction (the client binaries, found on PATH or under
/usr/lib/postgresql/*/bin; a clear error when absent). A backup is restored
into the same kind of database it came from; the file's first bytes say which.

Restoring refuses a database that already holds tables unless `force` is
given: then SQLite's file is overwritten page by page and PostgreSQL's `public`
schema is dropped with everything in it before the load.

The two acts are use cases in the house's shape, except that their work is
outside a transaction: each takes the `Ledger` of the database concerned and an
`Origin`, and records its audit event (`database.backup` in the database backed
up, once the file is complete; `database.restore` in the restored database)
with the file's size and SHA-256, never its path. Neither is repeatable by key:
every call is a new file or a new load.

A backup holds everything the database holds: personal data, and the TOTP
secrets sealed under LEDGER_TOTP_KEY (which the backup does not contain). Keep
backups as safe as the database.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from ledger.commands import Origin, Outcome, begin, command
from ledger.core.errors import LedgerError
from ledger.core.service import Ledger

BACK_UP = command("database.backup", None)
RESTORE = command("database.restore", None)

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
PG_TOOLS_GLOB = "/usr/lib/postgresql/*/bin"


class BackupError(LedgerError):
    """A backup or a restore could not be done (the message says why)."""

    code = "backup_failed"


class BackupToolMissingError(BackupError):
    """pg_dump or pg_restore is not installed where it is looked for."""

    code = "backup_tool_missing"


class BackupFormatError(BackupError):
    """The file is not a backup this database can be restored from."""

    code = "backup_format"


class DatabaseNotEmptyError(BackupError):
    """The database to restore into already holds tables (and `force` was not given)."""

    code = "database_not_empty"
    http_status = 409


@dataclass(frozen=True, slots=True)
class BackupFile:
    """A complete backup file: which database kind it holds, its size and SHA-256."""

    path: Path
    backend: str
    size: int
    sha256: str


# ------------------------------------------------------------------ use cases
def back_up(ledger: Ledger, output: Path, *, origin: Origin) -> Outcome[BackupFile]:
    """Copy the whole database of `ledger` into `output`, then audit it there.

    The file is written beside `output` under a fresh name of its own
    (`.<name>.<random>.partial`, created by mkstemp: readable and writable by its
    owner only, never an existing file or a link someone left there) and renamed
    when complete, so a failed backup never leaves a truncated file where a good
    one was (an existing `output` is replaced only by a complete backup). The
    backup holds password hashes, sealed secrets and everyone's personal data:
    it stays mode 0600 whatever the umask.
    """
    url = ledger.engine.url
    backend = _backend(url)
    handle, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    os.close(handle)
    partial = Path(name)
    try:
        if backend == "sqlite":
            _sqlite_copy(_sqlite_path(url), partial)
        else:
            _pg_dump(url, partial)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    made = describe(output)
    return ledger.run(
        lambda session: begin(session, BACK_UP, origin, clock=ledger.clock).done(
            made, subject_id=None, details=_facts(made)
        )
    )


def restore(
    ledger: Ledger, backup: Path, *, force: bool = False, origin: Origin
) -> Outcome[BackupFile]:
    """Load `backup` into the database of `ledger` (empty unless `force`), then audit it.

    The restored database is exactly the backed-up one plus this event; its
    connections are closed before the load, and a PostgreSQL load is one
    transaction (all or nothing).
    """
    found = describe(backup)
    url = ledger.engine.url
    backend = _backend(url)
    if found.backend != backend:
        raise BackupFormatError(
            f"this is a {found.backend} backup and the database is {backend}: a backup is "
            "restored into the kind of database it came from",
            backup_backend=found.backend,
            database_backend=backend,
        )
    ledger.engine.dispose()
    if backend == "sqlite":
        path = _sqlite_path(url)
        if not force and _sqlite_tables(path):
            raise _not_empty()
        _sqlite_copy(backup, path)
    else:
        if not force and _pg_tables(ledger):
            raise _not_empty()
        if force:
            with ledger.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            ledger.engine.dispose()
        _pg_restore(url, backup)
    return ledger.run(
        lambda session: begin(session, RESTORE, origin, clock=ledger.clock).done(
            found, subject_id=None, details={**_facts(found), "forced": force}
        )
    )


# ------------------------------------------------------------------ files
def describe(path: Path) -> BackupFile:
    """The backup at `path`: its kind (from its first bytes), size and SHA-256."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
            digest = hashlib.sha256(head)
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise BackupError(f"cannot read the backup: {exc.strerror}") from None
    if head.startswith(SQLITE_MAGIC):
        backend = "sqlite"
    elif head.startswith(PG_CUSTOM_MAGIC):
        backend = "postgresql"
    else:
        raise BackupFormatError(
            "not a backup made by `ledger backup` (neither a SQLite database nor a "
            "pg_dump custom-format archive)"
        )
    size = path.stat().st_size
    return BackupFile(path=path, backend=backend, size=size, sha256=digest.hexdigest())


def _facts(made: BackupFile) -> dict[str, object]:
    return {"backend": made.backend, "bytes": made.size, "sha256": made.sha256}


def _not_empty() -> DatabaseNotEmptyError:
    return DatabaseNotEmptyError(
        "the database already holds tables: restore into a new, empty database, or give "
        "--force to replace everything it holds"
    )


def _backend(url: URL) -> str:
    name = url.get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups are made of SQLite or PostgreSQL databases, not {name}")
    return name


# ------------------------------------------------------------------ SQLite
def _sqlite_path(url: URL) -> Path:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise BackupError("an in-memory SQLite database has nothing to back up or restore into")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy of `source` (live or not) into `target`."""
    if not source.exists():
        raise BackupError(f"no SQLite database at {source}")
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
        finally:
            writer.close()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup failed: {exc}") from None
    finally:
        reader.close()


def _sqlite_tables(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchone()
        return int(row[0])
    finally:
        connection.close()


# ------------------------------------------------------------------ PostgreSQL
def pg_tool(name: str) -> str:
    """The path of the PostgreSQL client `name` (pg_dump, pg_restore): PATH first, then
    the newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        (Path(d) / name for d in glob.glob(PG_TOOLS_GLOB)),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.parent.name.split(".")],
    )
    for candidate in reversed(candidates):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise BackupToolMissingError(
        f"{name} was not found on PATH nor in {PG_TOOLS_GLOB}: install the PostgreSQL "
        "client programs of the server's major version (Debian: apt install "
        "postgresql-client)",
        tool=name,
    )


def _conninfo(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for `url` without its password, and the environment
    that carries the password (never on the command line, where `ps` shows it)."""

    def quoted(value: object) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "dbname": url.database,
    }
    for key, value in url.query.items():
        parts[key] = value if isinstance(value, str) else value[-1]
    conninfo = " ".join(f"{k}={quoted(v)}" for k, v in parts.items() if v not in (None, ""))
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return conninfo, env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except OSError as exc:
        raise BackupError(f"{what} could not run: {exc.strerror}") from None
    if done.returncode != 0:
        detail = " ".join(done.stderr.strip().splitlines()[-3:])[:500]
        raise BackupError(f"{what} failed (exit {done.returncode}): {detail}")


def _pg_dump(url: URL, output: Path) -> None:
    conninfo, env = _conninfo(make_url(url))
    _run(
        [pg_tool("pg_dump"), "--format=custom", f"--file={output}", f"--dbname={conninfo}"],
        env,
        "pg_dump",
    )


def _pg_restore(url: URL, backup: Path) -> None:
    conninfo, env = _conninfo(make_url(url))
    _run(
        [
            pg_tool("pg_restore"),
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            f"--dbname={conninfo}",
            str(backup),
        ],
        env,
        "pg_restore",
    )


def _pg_tables(ledger: Ledger) -> int:
    with ledger.engine.connect() as connection:
        count = connection.scalar(
            text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        )
    ledger.engine.dispose()
    return int(count or 0)
