"""`ledger users`: the people who can sign in, and their roles. `users create` makes a user
and their person record (the password, if any, is read from standard input and never
printed), `users list` shows roles, 2FA enrolment and status, `users roles` shows or changes
a user's roles, `users deactivate` stops a user signing in and using API tokens, and
`users identity` corrects a person's name and codice fiscale (receipts that printed the old
ones are voided and issued again). Each change goes through the use cases of
`ledger.people.commands`, which write its audit event in the same transaction.
`users new-totp-key` prints a key for LEDGER_TOTP_KEY and `users reseal-totp` seals every
TOTP secret under its first key (after the upgrade to 0009_totp_encrypted, and after a new
key was put first).
"""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.cli.common import ROLE, CommandError, _Column, _echo_listing, open_ledger
from ledger.commands import Origin
from ledger.core.sealing import new_key
from ledger.people import commands as people_commands
from ledger.people import service as people
from ledger.people.models import User


def _read_password_line() -> str:
    """The first line of standard input without its line ending (or a hidden prompt)."""
    if sys.stdin.isatty():
        value = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return str(value)
    line = sys.stdin.readline()
    if line.endswith("\n"):
        line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
    if not line:
        raise CommandError("weak_password", "--password-stdin given but standard input is empty")
    return line


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


@click.group()
def users() -> None:
    """People who can sign in, and their roles."""


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    type=ROLE,
    multiple=True,
    required=True,
    help="A role to grant; repeat for several.",
)
@click.option("--name", default=None, help="Full name (default: the part before the @).")
@click.option("--codice-fiscale", default=None, help="Italian tax code, checked and stored.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input. Without it the "
    "user has no password until they follow a password-reset link.",
)
@click.pass_context
def users_create(
    ctx: click.Context,
    email: str,
    roles: tuple[str, ...],
    name: str | None,
    codice_fiscale: str | None,
    password_stdin: bool,
) -> None:
    """Create a user (and their person record) for EMAIL.

    Prints the user id and roles, never the password. Writes a `user.create`
    audit event in the same transaction. The address counts as unconfirmed
    (gifts and loans the registry links to it stay hidden from the user) until
    its owner follows a confirmation link from their personal area or a
    password-reset link.
    """
    password = _read_password_line() if password_stdin else None
    ledger = open_ledger(ctx)
    full_name = name if name is not None else email.strip().partition("@")[0]

    def work(session: Session) -> tuple[int, str, list[str]]:
        user = people_commands.create_user(
            session,
            people.NewPerson(email=email, full_name=full_name, codice_fiscale=codice_fiscale),
            roles=roles,
            password=password,
            origin=Origin.command_line(),
            clock=ledger.clock,
        ).value
        return user.id, user.email, sorted(user.roles)

    user_id, address, granted = ledger.run(work)
    click.echo(f"created user {user_id} ({address}) with roles: {', '.join(granted)}")
    if password is None:
        click.echo("no password yet: the user sets one through a password-reset link")


@users.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def users_list(ctx: click.Context, fmt: str) -> None:
    """List users with their roles, 2FA enrolment and status."""

    def read(session: Session) -> list[dict[str, Any]]:
        return [
            {
                "id": u.id,
                "email": u.email,
                "roles": sorted(u.roles),
                "totp_enrolled": u.totp_enrolled,
                "active": u.active,
            }
            for u in session.scalars(select(User).order_by(User.id))
        ]

    _echo_listing(
        open_ledger(ctx).read(read),
        fmt,
        empty="no users yet (create one with `ledger users create`)",
        columns=(
            _Column("id", lambda r: str(r["id"]), right=True, min_width=5),
            _Column("email", lambda r: str(r["email"])),
            _Column("roles", lambda r: ", ".join(r["roles"])),
            _Column("2fa", lambda r: _yes_no(r["totp_enrolled"])),
            _Column("active", lambda r: _yes_no(r["active"])),
        ),
    )


@users.command("roles")
@click.argument("email")
@click.option("--add", "added", type=ROLE, multiple=True, help="A role to grant; repeatable.")
@click.option("--remove", "removed", type=ROLE, multiple=True, help="A role to take away.")
@click.pass_context
def users_roles(
    ctx: click.Context, email: str, added: tuple[str, ...], removed: tuple[str, ...]
) -> None:
    """Show or change the roles of EMAIL.

    With --add/--remove (repeatable) the roles change and a `user.roles` audit
    event is written; a user keeps at least one role.
    """
    ledger = open_ledger(ctx)

    def work(session: Session) -> tuple[int, list[str], bool]:
        # Showing is a change of nothing: it finds the user (or user_not_found) and writes nothing.
        outcome = people_commands.change_roles(
            session,
            email,
            added=added,
            removed=removed,
            origin=Origin.command_line(),
            clock=ledger.clock,
        )
        return outcome.value.id, sorted(outcome.value.roles), outcome.created

    user_id, current, changed = ledger.run(work)
    shown = ", ".join(current)
    if changed:
        click.echo(f"user {user_id} now has roles: {shown}")
    elif added or removed:
        click.echo(f"user {user_id} already has roles: {shown}; nothing changed")
    else:
        click.echo(f"user {user_id} has roles: {shown}")


@users.command("deactivate")
@click.argument("email")
@click.pass_context
def users_deactivate(ctx: click.Context, email: str) -> None:
    """Stop EMAIL signing in and using API tokens.

    The person, the user row and their history stay; writes a `user.deactivate`
    audit event.
    """
    ledger = open_ledger(ctx)

    def work(session: Session) -> tuple[int, bool]:
        outcome = people_commands.deactivate_user(
            session, email, origin=Origin.command_line(), clock=ledger.clock
        )
        return outcome.value.id, outcome.created

    user_id, changed = ledger.run(work)
    if changed:
        click.echo(f"deactivated user {user_id}: they can no longer sign in or use API tokens")
    else:
        click.echo(f"user {user_id} was already inactive; nothing changed")


@users.command("new-totp-key")
def users_new_totp_key() -> None:
    """Print a new random key for LEDGER_TOTP_KEY (it is not stored anywhere).

    To rotate, put the new key first and keep the old one second
    (LEDGER_TOTP_KEY=new,old), run `ledger users reseal-totp`, then drop the old one.
    """
    click.echo(new_key())


@users.command("reseal-totp")
@click.pass_context
def users_reseal_totp(ctx: click.Context) -> None:
    """Seal every TOTP secret under the first key of LEDGER_TOTP_KEY.

    Seals the secrets migration 0009 left in clear (it ran without LEDGER_TOTP_KEY)
    and those sealed under an older key; writes a `user.totp_reseal` audit event
    when any changed. A secret that no key opens stops the command with nothing
    changed (secret_key_mismatch): put the old key back in the list.
    """
    ledger = open_ledger(ctx)
    box = ledger.require_secret_box()

    def work(session: Session) -> int:
        return people_commands.reseal_two_factor_secrets(
            session, box=box, origin=Origin.command_line(), clock=ledger.clock
        ).value

    changed = ledger.run(work)
    if changed:
        click.echo(f"sealed the TOTP secrets of {changed} users under the first key")
    else:
        click.echo("every TOTP secret is already sealed under the first key; nothing changed")


@users.command("identity")
@click.argument("email")
@click.option("--name", required=True, help="The person's full name, corrected.")
@click.option(
    "--codice-fiscale", default=None, help="The codice fiscale, corrected (omit it to remove it)."
)
@click.pass_context
def users_identity(ctx: click.Context, email: str, name: str, codice_fiscale: str | None) -> None:
    """Correct the name and codice fiscale of the person with EMAIL (with or without an account).

    Receipts already issued with the old ones are voided and issued again with a
    new number, never altered; writes a `person.correct` audit event.
    """
    ledger = open_ledger(ctx)

    def work(session: Session) -> tuple[int, bool]:
        person = people.get_person_by_email(session, email)
        outcome = people_commands.correct_identity(
            session,
            person.id,
            name,
            codice_fiscale,
            origin=Origin.command_line(),
            clock=ledger.clock,
        )
        return person.id, outcome.created

    person_id, changed = ledger.run(work)
    if changed:
        click.echo(f"corrected person {person_id}; receipts with the old data were reissued")
    else:
        click.echo(f"person {person_id} already has this name and codice fiscale; nothing changed")
