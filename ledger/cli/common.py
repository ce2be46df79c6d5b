"""Plumbing shared by every module of the `ledger` command line: the root `cli` group (with
`--database`), its error handling (`CommandError`, `LedgerGroup`), `open_ledger`, the listing,
JSON and progress helpers, and the DATE and ROLE parameter types. The commands call the
domain's use cases with `Origin.command_line()` (channel "cli", the host as the source), and
the use cases write the audit events. It imports none of the command modules; `ledger.cli` registers
their commands on `cli`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from ledger.core.errors import LedgerError
from ledger.core.money import format_minor
from ledger.core.sealing import SecretBox
from ledger.core.service import Ledger
from ledger.people.models import ROLES
from ledger.wiring import wire


class CommandError(click.ClickException):
    """A refusal shown as `Error: <code>: <message>` with exit status 1."""

    exit_code = 1

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class LedgerGroup(click.Group):
    """A click group that turns domain and database errors into clean exits."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            raise CommandError(exc.code, exc.message) from exc
        except (OperationalError, ProgrammingError) as exc:
            # A missing table is the usual cause: a database nobody migrated yet.
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise CommandError(
                "database_error",
                f"{detail} (is the database reachable and migrated? run `ledger db upgrade`)",
            ) from exc


def totp_secret_box(environ: Mapping[str, str] | None = None) -> SecretBox | None:
    """The keys of LEDGER_TOTP_KEY (comma-separated, the first seals), or None when unset.

    Commands that need no key work without one; one that does (`users reseal-totp`)
    is refused with `secret_key_missing`. A value that is not a key list is refused
    here, without echoing it.
    """
    raw = (os.environ if environ is None else environ).get("LEDGER_TOTP_KEY", "")
    if not raw.strip():
        return None
    try:
        return SecretBox.from_setting(raw)
    except ValueError as exc:
        raise CommandError("configuration", f"LEDGER_TOTP_KEY: {exc}") from None


def open_ledger(ctx: click.Context) -> Ledger:
    """The Ledger for LEDGER_DATABASE_URL (or --database), made once per invocation,
    with the TOTP keys of LEDGER_TOTP_KEY when it is set."""
    obj = ctx.ensure_object(dict)
    if "ledger" not in obj:
        service = Ledger.from_url(obj.get("database_url"), secret_box=totp_secret_box())
        obj["ledger"] = service
        # Release pooled connections when the command ends, so a test or script
        # that runs many commands does not keep databases open.
        ctx.find_root().call_on_close(service.engine.dispose)
    ledger: Ledger = obj["ledger"]
    return ledger


@dataclass(frozen=True, slots=True)
class _Column:
    """A column of a listing: its header, how to show a row's cell, its alignment."""

    header: str
    cell: Callable[[dict[str, Any]], str]
    right: bool = False
    min_width: int = 0


def _echo_listing(
    rows: list[dict[str, Any]], fmt: str, *, empty: str, columns: Sequence[_Column]
) -> None:
    """Print rows as indented JSON, or as a table of `columns` (`empty` when there are none)."""
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(empty)
        return
    cells = [[c.cell(r) for c in columns] for r in rows]
    widths = [
        max(c.min_width, len(c.header), *(len(row[i]) for row in cells))
        for i, c in enumerate(columns)
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if c.right else v.ljust(w)
            for v, w, c in zip(values, widths, columns, strict=True)
        ).rstrip()

    click.echo(line([c.header for c in columns]))
    for row in cells:
        click.echo(line(row))


def _stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


class Counter:
    """A progress counter on standard error, silent unless stderr is a terminal."""

    def __init__(self, label: str, *, every: int = 1) -> None:
        self.label = label
        self.every = every
        self.enabled = _stderr_is_terminal()
        self.shown = False

    def __call__(self, count: int) -> None:
        if self.enabled and count % self.every == 0:
            click.echo(f"\r{self.label}: {count}", err=True, nl=False)
            self.shown = True

    def done(self) -> None:
        if self.shown:
            click.echo("", err=True)


def _json_line(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))


def _amount(minor: int, currency: str) -> str:
    return format_minor(minor, currency)


def _as_date(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


DATE = click.DateTime(formats=["%Y-%m-%d"])


ROLE = click.Choice(ROLES)


# --------------------------------------------------------------------------- the root group
@click.group(cls=LedgerGroup)
@click.option(
    "--database",
    "database_url",
    envvar="LEDGER_DATABASE_URL",
    default=None,
    help="Database URL (default: LEDGER_DATABASE_URL, else instance/ledger.sqlite3).",
)
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Community ledger: double-entry books for community-welfare programmes."""
    wire()
    ctx.ensure_object(dict)["database_url"] = database_url


def main() -> None:
    cli()
