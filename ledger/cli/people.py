"""`ledger people`: a person's data. `people export PERSON [--output FILE]` writes everything
the product holds about the person as JSON (audited as `person.export`); `people erase PERSON
--yes` replaces their name, e-mail, codice fiscale and address, ends their account, and prints
what the law requires to keep and why (audited as `person.erase`). PERSON is the person's id
or e-mail address."""

from __future__ import annotations

import json
import os

import click
from sqlalchemy.orm import Session

from ledger.cli.common import open_ledger
from ledger.commands import Origin


@click.group()
def people() -> None:
    """Persons: data export and erasure (GDPR)."""


def _person_id(session: Session, person: str) -> int:
    from ledger.people.service import get_person, get_person_by_email

    if person.isdigit():
        return get_person(session, int(person)).id
    return get_person_by_email(session, person).id


@people.command("export")
@click.argument("person")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None)
@click.pass_context
def people_export(ctx: click.Context, person: str, output: str | None) -> None:
    """Everything the product holds about PERSON (id or e-mail), as JSON."""
    from ledger.privacy.commands import export_person

    ledger = open_ledger(ctx)
    data = ledger.run(
        lambda s: export_person(
            s, _person_id(s, person), origin=Origin.command_line(), clock=ledger.clock
        )
    ).value
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
    if output is None:
        click.echo(text)
        return
    # Personal data: readable by the operator only, whatever the umask.
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    click.echo(f"written to {output}", err=True)


@people.command("erase")
@click.argument("person")
@click.option("--yes", is_flag=True, help="Confirm: the erasure cannot be undone.")
@click.pass_context
def people_erase(ctx: click.Context, person: str, yes: bool) -> None:
    """Erase PERSON (id or e-mail): name, e-mail, codice fiscale and address replaced, the
    account ended; the books, the journal and what the law requires to keep stay."""
    from ledger.privacy.commands import erase_person

    if not yes:
        raise click.UsageError("the erasure cannot be undone: confirm it with --yes")
    ledger = open_ledger(ctx)
    done = ledger.run(
        lambda s: erase_person(
            s, _person_id(s, person), origin=Origin.command_line(), clock=ledger.clock
        )
    ).value
    click.echo(f"person {done.person_id} erased: {', '.join(done.replaced)} replaced")
    for kept in done.kept:
        click.echo(f"kept: {kept.count} {kept.what}: {kept.reason}")
