"""Writes sent straight through the DB-API cursor, for SQLite's posting path.

On SQLite the database does a few microseconds of work per statement and
SQLAlchemy's execution of a compiled statement costs several times that
(caches, events, result set-up). The posting path's writes are fixed
statements over fixed columns, so they are written here once as SQL text with
`?` markers and sent with `cursor.executemany`, after the same bind processing
SQLAlchemy would apply to each column (dates and aware timestamps become the
text SQLite stores). A DB-API error is raised as SQLAlchemy's `DBAPIError`
subclass, as from any other statement, so units of work classify and retry it
as before.

These statements do not pass through SQLAlchemy's `before_cursor_execute`
event; `bench/posting.py --profile` counts them with SQLite's own trace
callback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any] | None


class DbapiStatement:
    """One INSERT or UPDATE by column names, run with executemany on the DB-API cursor."""

    def __init__(self, sql: str, columns: Sequence[Column[Any]]) -> None:
        self.sql = sql
        self.columns = tuple(columns)
        self.names = tuple(c.key for c in columns)
        self._processors: dict[str, tuple[Processor, ...]] = {}

    @classmethod
    def insert(cls, table: Table, names: Sequence[str]) -> DbapiStatement:
        columns = [table.c[n] for n in names]
        quoted = ", ".join(f'"{n}"' for n in names)
        marks = ", ".join("?" for _ in names)
        return cls(f"INSERT INTO {table.name} ({quoted}) VALUES ({marks})", columns)

    @classmethod
    def update(cls, table: Table, names: Sequence[str], where: str) -> DbapiStatement:
        """UPDATE `table` SET each of `names` WHERE `where` = ? (the key comes last)."""
        columns = [table.c[n] for n in names] + [table.c[where]]
        sets = ", ".join(f'"{n}" = ?' for n in names)
        return cls(f'UPDATE {table.name} SET {sets} WHERE "{where}" = ?', columns)

    def processors(self, dialect: Dialect) -> tuple[Processor, ...]:
        found = self._processors.get(dialect.name)
        if found is None:
            found = tuple(
                c.type.dialect_impl(dialect).bind_processor(dialect) for c in self.columns
            )
            self._processors[dialect.name] = found
        return found

    def run(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Send `rows` (dicts by column key) in one executemany."""
        if not rows:
            return
        processors = self.processors(connection.dialect)
        names = self.names
        params = [
            tuple(
                value if process is None or value is None else process(value)
                for value, process in zip((row[n] for n in names), processors, strict=True)
            )
            for row in rows
        ]
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(self.sql, params)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(
                self.sql, params, exc, sqlite3.Error, dialect=connection.dialect
            ) from exc
        finally:
            cursor.close()
