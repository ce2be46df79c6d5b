"""Projects and their reporting to funders: `ledger projects`.

`list` shows the projects with their funders; `report` writes the report to a
funder for a period (JSON, CSV, XLSX or PDF). The other commands are the acts of
`ledger.projects.commands` (organisations, projects, budget versions, expenses
with their document file, money in, campaign payouts, the register of
volunteers, volunteer hours and in-kind): each only parses its arguments and
calls the use case, which writes its audit event. `volunteers` lists the
register of volunteers (art. 17 c.1 CTS); `volunteer-enrol` and `volunteer-end`
keep it, and `volunteer-hours` is refused for a person not enrolled on the day.
Acts under the four-eyes rule (approving a budget, proposing and paying a
payout) need `--as EMAIL`, the user who acts; the others accept it.
Amounts are decimal strings in the project's currency ("1234.50").
"""

from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from ledger.cli.common import DATE, CommandError, open_ledger
from ledger.commands import Origin
from ledger.core.money import Money
from ledger.people.service import find_user_by_email
from ledger.projects import commands, volunteers
from ledger.projects.expenses import AllocationSpec
from ledger.projects.getters import (
    foundation_names,
    funder_by_foundation,
    funders_of,
    get_project,
)
from ledger.projects.models import ORGANISATION_KINDS, PARTNER_ROLES
from ledger.projects.report import funder_report
from ledger.projects.service import FunderSettings, LineSpec, SourceAmount, list_projects


def _origin(session: Session, email: str | None) -> Origin:
    if email is None:
        return Origin.command_line()
    user = find_user_by_email(session, email)
    if user is None:
        raise CommandError("user_not_found", f"no user with e-mail {email}")
    return Origin(channel="cli", user_id=user.id, source=socket.gethostname()[:64])


def _minor(session: Session, project_id: int, amount: str) -> int:
    return Money.parse(amount, get_project(session, project_id).currency).minor


AS_USER = click.option("--as", "as_email", default=None, help="E-mail of the user who acts.")
KEY = click.option("--key", required=True, help="Request key: the same key books once.")


@click.group()
def projects() -> None:
    """Projects, budgets, expenses, money in and reports to funders."""


@projects.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def projects_list(ctx: click.Context, fmt: str) -> None:
    """Every project with its funders (JSON: id, title, funders [{id, name}])."""

    def read(session: Session) -> list[dict[str, Any]]:
        rows = []
        for project in list_projects(session):
            funders = funders_of(session, project.id)
            names = foundation_names(session, [f.foundation_id for f in funders])
            rows.append(
                {
                    "id": project.id,
                    "title": project.title,
                    "status": project.status,
                    "starts_on": project.starts_on.isoformat(),
                    "ends_on": project.ends_on.isoformat(),
                    "funders": [
                        {"id": f.foundation_id, "name": names[f.foundation_id]} for f in funders
                    ],
                }
            )
        return rows

    rows = open_ledger(ctx).read(read)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no projects")
        return
    for r in rows:
        funders = ", ".join(f"{f['id']} {f['name']}" for f in r["funders"]) or "-"
        click.echo(
            f"{r['id']:>4}  {r['starts_on']} {r['ends_on']}  {r['title']}  (funders: {funders})"
        )


@projects.command("report")
@click.argument("project_id", type=int)
@click.option("--funder", "foundation_id", type=int, required=True, help="The foundation's id.")
@click.option("--from", "start", type=DATE, required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", type=DATE, required=True, help="Last day (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv", "xlsx", "json"]), default="pdf")
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), required=True, help="File."
)
@click.pass_context
def projects_report(
    ctx: click.Context,
    project_id: int,
    foundation_id: int,
    start: datetime,
    end: datetime,
    fmt: str,
    output: str,
) -> None:
    """Write the report of a project to a funder for a period."""
    from ledger.statements import project_report, project_report_pdf

    ledger = open_ledger(ctx)

    def read(session: Session) -> bytes:
        report = funder_report(session, project_id, foundation_id, start.date(), end.date())
        if fmt == "json":
            data = project_report.report_json(report)
            return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        if fmt == "csv":
            return project_report.report_csv(report).encode("utf-8")
        if fmt == "xlsx":
            return project_report.report_xlsx(report)
        return project_report_pdf.report_pdf(report, generated_on=ledger.clock.now().date())

    data = ledger.read(read)
    Path(output).write_bytes(data)
    click.echo(f"report of project {project_id} to funder {foundation_id} written to {output}")


@projects.command("create-org")
@click.argument("name")
@click.option("--kind", type=click.Choice(ORGANISATION_KINDS), required=True)
@click.option("--tax-code", default=None)
@click.option("--vat-number", default=None)
@AS_USER
@click.pass_context
def projects_create_org(
    ctx: click.Context,
    name: str,
    kind: str,
    tax_code: str | None,
    vat_number: str | None,
    as_email: str | None,
) -> None:
    """Register a partner, co-funder or supplier organisation."""
    ledger = open_ledger(ctx)
    org_id = ledger.run(
        lambda s: (
            commands.create_organisation(
                s,
                name=name,
                kind=kind,
                tax_code=tax_code,
                vat_number=vat_number,
                origin=_origin(s, as_email),
                clock=ledger.clock,
            ).value.id
        )
    )
    click.echo(f"created organisation {org_id}")


@projects.command("add-member")
@click.argument("organisation", type=int)
@click.argument("email")
@AS_USER
@click.pass_context
def projects_add_member(
    ctx: click.Context, organisation: int, email: str, as_email: str | None
) -> None:
    """Let the user with EMAIL (project staff or partner role) act for ORGANISATION."""
    ledger = open_ledger(ctx)

    def act(s: Session) -> None:
        user = find_user_by_email(s, email)
        if user is None:
            raise CommandError("user_not_found", f"no user with e-mail {email}")
        commands.add_organisation_member(
            s,
            organisation_id=organisation,
            user_id=user.id,
            origin=_origin(s, as_email),
            clock=ledger.clock,
        )

    ledger.run(act)
    click.echo(f"{email} acts for organisation {organisation}")


@projects.command("create")
@click.argument("title")
@click.option("--lead", type=int, required=True, help="The lead organisation's id.")
@click.option("--from", "start", type=DATE, required=True)
@click.option("--to", "end", type=DATE, required=True)
@click.option("--programme", default=None)
@click.option("--call", "call_reference", default=None)
@click.option(
    "--partner", "partners", multiple=True, help="ORG_ID:ROLE (partner, co_funder, supplier)."
)
@click.option("--funder", "foundation_id", type=int, default=None, help="A foundation's id.")
@click.option("--grant", default=None, help="The funder's grant (decimal).")
@click.option("--max-grant-pct", default=None)
@click.option("--min-cofinancing-pct", default=None)
@click.option("--max-overheads-pct", default=None)
@click.option("--variance-pct", default="20", show_default=True)
@click.option("--volunteer-counts/--no-volunteer-counts", default=False)
@click.option("--in-kind-counts/--no-in-kind-counts", default=False)
@AS_USER
@click.pass_context
def projects_create(
    ctx: click.Context,
    title: str,
    lead: int,
    start: datetime,
    end: datetime,
    programme: str | None,
    call_reference: str | None,
    partners: tuple[str, ...],
    foundation_id: int | None,
    grant: str | None,
    max_grant_pct: str | None,
    min_cofinancing_pct: str | None,
    max_overheads_pct: str | None,
    variance_pct: str,
    volunteer_counts: bool,
    in_kind_counts: bool,
    as_email: str | None,
) -> None:
    """Create a project with its lead, partners and (one) funder with its settings."""
    pairs = []
    for text in partners:
        org, _, role = text.partition(":")
        if not org.isdigit() or role not in PARTNER_ROLES:
            raise click.BadParameter(f"{text!r}: ORG_ID:ROLE", param_hint="--partner")
        pairs.append((int(org), role))
    if (foundation_id is None) != (grant is None):
        raise click.BadParameter("--funder and --grant go together", param_hint="--grant")
    funders = []
    if foundation_id is not None and grant is not None:
        funders.append(
            FunderSettings(
                foundation_id,
                Money.parse(grant, "EUR").minor,
                max_grant_pct,
                min_cofinancing_pct,
                max_overheads_pct,
                variance_pct,
                volunteer_counts,
                in_kind_counts,
            )
        )
    ledger = open_ledger(ctx)
    project_id = ledger.run(
        lambda s: (
            commands.create_project(
                s,
                title=title,
                lead_organisation_id=lead,
                starts_on=start.date(),
                ends_on=end.date(),
                programme=programme,
                call_reference=call_reference,
                partners=pairs,
                funders=funders,
                origin=_origin(s, as_email),
                clock=ledger.clock,
            ).value.id
        )
    )
    click.echo(f"created project {project_id}")


@projects.command("budget-propose")
@click.argument("project_id", type=int)
@click.argument("budget_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--note", default=None)
@AS_USER
@click.pass_context
def projects_budget_propose(
    ctx: click.Context, project_id: int, budget_file: str, note: str | None, as_email: str | None
) -> None:
    """Propose a budget version from a JSON file: a list of lines
    {"code", "category", "title", "amounts": [{"source", "ref", "amount"}]}, where `ref` is
    the foundation id of a grant, the organisation id of a partner's share."""
    raw = json.loads(Path(budget_file).read_text(encoding="utf-8"))
    ledger = open_ledger(ctx)

    def work(session: Session) -> tuple[int, int]:
        lines = []
        for line in raw:
            amounts = []
            for a in line.get("amounts", []):
                ref = int(a.get("ref", 0))
                if a["source"] == "grant":
                    ref = funder_by_foundation(session, project_id, ref).id
                amounts.append(
                    SourceAmount(a["source"], _minor(session, project_id, str(a["amount"])), ref)
                )
            lines.append(
                LineSpec(str(line["code"]), line["category"], line["title"], tuple(amounts))
            )
        version = commands.propose_budget(
            session,
            project_id,
            lines,
            note=note,
            origin=_origin(session, as_email),
            clock=ledger.clock,
        ).value
        return version.id, version.number

    version_id, number = ledger.run(work)
    click.echo(f"proposed budget version {number} (id {version_id}) of project {project_id}")


@projects.command("budget-approve")
@click.argument("version_id", type=int)
@click.option("--as", "as_email", required=True, help="E-mail of the approver.")
@click.pass_context
def projects_budget_approve(ctx: click.Context, version_id: int, as_email: str) -> None:
    """Approve a proposed budget version (a person other than its proposer)."""
    ledger = open_ledger(ctx)
    number = ledger.run(
        lambda s: (
            commands.approve_budget(
                s, version_id, origin=_origin(s, as_email), clock=ledger.clock
            ).value.number
        )
    )
    click.echo(f"approved budget version {number}")


def _allocation(session: Session, project_id: int, text: str) -> AllocationSpec:
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise click.BadParameter(f"{text!r}: LINE:SOURCE[:REF]:AMOUNT", param_hint="--line")
    line, source = parts[0], parts[1]
    ref = int(parts[2]) if len(parts) == 4 else 0
    if source == "grant":
        ref = funder_by_foundation(session, project_id, ref).id
    return AllocationSpec(line, source, _minor(session, project_id, parts[-1]), ref)


@projects.command("expense")
@click.argument("project_id", type=int)
@click.option(
    "--kind", type=click.Choice(["invoice", "receipt", "payslip", "timesheet"]), default="invoice"
)
@click.option("--supplier", type=int, required=True)
@click.option("--number", required=True)
@click.option("--date", "issued_on", type=DATE, required=True)
@click.option("--net", required=True)
@click.option("--vat", default="0.00")
@click.option("--vat-recoverable/--vat-not-recoverable", default=False)
@click.option("--paid-by", type=click.Choice(["bank", "payable", "partner"]), default="bank")
@click.option("--partner", type=int, default=None, help="The partner who bore the cost.")
@click.option(
    "--line",
    "lines",
    multiple=True,
    required=True,
    help="LINE:SOURCE[:REF]:AMOUNT (REF: a grant's foundation id, a partner's id).",
)
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--bank-line", type=int, default=None, help="Proof: a reconciled bank line.")
@click.option("--entry", type=int, default=None, help="Proof: a journal entry's sequence.")
@KEY
@AS_USER
@click.pass_context
def projects_expense(
    ctx: click.Context,
    project_id: int,
    kind: str,
    supplier: int,
    number: str,
    issued_on: datetime,
    net: str,
    vat: str,
    vat_recoverable: bool,
    paid_by: str,
    partner: int | None,
    lines: tuple[str, ...],
    file_path: str | None,
    bank_line: int | None,
    entry: int | None,
    key: str,
    as_email: str | None,
) -> None:
    """Record an expense document with its file, proof of payment and allocations."""
    content = Path(file_path).read_bytes() if file_path else None
    ledger = open_ledger(ctx)

    def work(session: Session) -> tuple[int, int]:
        done = commands.record_expense(
            session,
            project_id,
            kind=kind,
            supplier_id=supplier,
            number=number,
            issued_on=issued_on.date(),
            net_minor=_minor(session, project_id, net),
            vat_minor=_minor(session, project_id, vat),
            vat_recoverable=vat_recoverable,
            paid_by=paid_by,
            partner_id=partner,
            allocations=[_allocation(session, project_id, t) for t in lines],
            file=content,
            payment_line_id=bank_line,
            payment_sequence=entry,
            origin=_origin(session, as_email),
            clock=ledger.clock,
            key=key,
        ).value
        return done.document_id, done.sequence

    document_id, sequence = ledger.run(work)
    click.echo(f"recorded document {document_id} as entry {sequence}")


@projects.command("grant-received")
@click.argument("project_id", type=int)
@click.argument("amount")
@click.option("--funder", "foundation_id", type=int, required=True)
@click.option(
    "--kind", type=click.Choice(["grant_advance", "grant_tranche"]), default="grant_advance"
)
@click.option("--date", "received_on", type=DATE, default=None)
@KEY
@AS_USER
@click.pass_context
def projects_grant_received(
    ctx: click.Context,
    project_id: int,
    amount: str,
    foundation_id: int,
    kind: str,
    received_on: datetime | None,
    key: str,
    as_email: str | None,
) -> None:
    """Book a funder's advance or tranche received by the project."""
    ledger = open_ledger(ctx)
    sequence = ledger.run(
        lambda s: (
            commands.receive_grant(
                s,
                project_id,
                funder_by_foundation(s, project_id, foundation_id).id,
                _minor(s, project_id, amount),
                kind=kind,
                received_on=received_on.date() if received_on else None,
                origin=_origin(s, as_email),
                clock=ledger.clock,
                key=key,
            ).value.sequence
        )
    )
    click.echo(f"booked as entry {sequence}")


@projects.command("contribution")
@click.argument("project_id", type=int)
@click.argument("amount")
@click.option("--partner", type=int, required=True)
@click.option("--date", "received_on", type=DATE, default=None)
@KEY
@AS_USER
@click.pass_context
def projects_contribution(
    ctx: click.Context,
    project_id: int,
    amount: str,
    partner: int,
    received_on: datetime | None,
    key: str,
    as_email: str | None,
) -> None:
    """Book a partner's cash contribution through the bank."""
    ledger = open_ledger(ctx)
    sequence = ledger.run(
        lambda s: (
            commands.receive_contribution(
                s,
                project_id,
                partner,
                _minor(s, project_id, amount),
                received_on=received_on.date() if received_on else None,
                origin=_origin(s, as_email),
                clock=ledger.clock,
                key=key,
            ).value.sequence
        )
    )
    click.echo(f"booked as entry {sequence}")


@projects.command("link-campaign")
@click.argument("project_id", type=int)
@click.argument("campaign_id", type=int)
@AS_USER
@click.pass_context
def projects_link_campaign(
    ctx: click.Context, project_id: int, campaign_id: int, as_email: str | None
) -> None:
    """Link a campaign to the project: once it succeeds, its money is paid out to it."""
    ledger = open_ledger(ctx)
    ledger.run(
        lambda s: commands.link_campaign(
            s, project_id, campaign_id, origin=_origin(s, as_email), clock=ledger.clock
        )
    )
    click.echo(f"campaign {campaign_id} linked to project {project_id}")


@projects.command("payout-propose")
@click.argument("project_id", type=int)
@click.argument("campaign_id", type=int)
@click.option("--as", "as_email", required=True, help="E-mail of the proposer.")
@click.pass_context
def projects_payout_propose(
    ctx: click.Context, project_id: int, campaign_id: int, as_email: str
) -> None:
    """Propose paying a succeeded campaign's escrow and released matches to the project."""
    ledger = open_ledger(ctx)
    receipt = ledger.run(
        lambda s: (
            commands.propose_payout(
                s, project_id, campaign_id, origin=_origin(s, as_email), clock=ledger.clock
            ).value
        )
    )
    click.echo(f"proposed payout {receipt}")


@projects.command("payout-pay")
@click.argument("receipt_id", type=int)
@click.option("--as", "as_email", required=True, help="E-mail of the payer (not the proposer).")
@click.pass_context
def projects_payout_pay(ctx: click.Context, receipt_id: int, as_email: str) -> None:
    """Pay a proposed campaign payout (a second person): one entry."""
    ledger = open_ledger(ctx)
    sequence = ledger.run(
        lambda s: (
            commands.pay_payout(
                s, receipt_id, origin=_origin(s, as_email), clock=ledger.clock
            ).value.sequence
        )
    )
    click.echo(f"paid payout {receipt_id} as entry {sequence}")


@projects.command("rate")
@click.argument("role")
@click.argument("hourly")
@click.option("--from", "valid_from", type=DATE, required=True)
@click.option("--basis", default=None, help="E.g. the collective agreement and level.")
@AS_USER
@click.pass_context
def projects_rate(
    ctx: click.Context,
    role: str,
    hourly: str,
    valid_from: datetime,
    basis: str | None,
    as_email: str | None,
) -> None:
    """Add a volunteer role's hourly rate from a date to the rate table."""
    ledger = open_ledger(ctx)
    rate_id = ledger.run(
        lambda s: (
            commands.set_volunteer_rate(
                s,
                role=role,
                hourly_minor=Money.parse(hourly, "EUR").minor,
                valid_from=valid_from.date(),
                basis=basis,
                origin=_origin(s, as_email),
                clock=ledger.clock,
            ).value.id
        )
    )
    click.echo(f"rate {rate_id} added")


@projects.command("volunteers")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def projects_volunteers(ctx: click.Context, fmt: str) -> None:
    """The register of volunteers (art. 17 c.1 CTS): open periods first (JSON: id,
    person_id, name, enrolled_on, ended_on, activity)."""

    def read(session: Session) -> list[dict[str, Any]]:
        rows = volunteers.register(session)
        names = volunteers.names_of(session, [r.person_id for r in rows])
        return [
            {
                "id": r.id,
                "person_id": r.person_id,
                "name": names.get(r.person_id, ""),
                "enrolled_on": r.enrolled_on.isoformat(),
                "ended_on": r.ended_on.isoformat() if r.ended_on else None,
                "activity": r.activity,
            }
            for r in rows
        ]

    rows = open_ledger(ctx).read(read)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no volunteers enrolled")
        return
    for r in rows:
        period = f"{r['enrolled_on']} - {r['ended_on'] or 'open':<10}"
        activity = f"  ({r['activity']})" if r["activity"] else ""
        click.echo(f"{r['id']:>4}  person {r['person_id']:>5}  {period}  {r['name']}{activity}")


@projects.command("volunteer-enrol")
@click.option("--person", type=int, required=True, help="The person's id.")
@click.option("--from", "enrolled_on", type=DATE, required=True, help="First day (YYYY-MM-DD).")
@click.option("--activity", default=None, help="The service the volunteer does.")
@KEY
@AS_USER
@click.pass_context
def projects_volunteer_enrol(
    ctx: click.Context,
    person: int,
    enrolled_on: datetime,
    activity: str | None,
    key: str,
    as_email: str | None,
) -> None:
    """Enrol a person in the register of volunteers from a day (an open period)."""
    ledger = open_ledger(ctx)
    enrolment = ledger.run(
        lambda s: (
            commands.enrol_volunteer(
                s,
                person_id=person,
                enrolled_on=enrolled_on.date(),
                activity=activity,
                origin=_origin(s, as_email),
                clock=ledger.clock,
                key=key,
            ).value.id
        )
    )
    click.echo(f"enrolled person {person} as enrolment {enrolment}")


@projects.command("volunteer-end")
@click.option("--person", type=int, default=None, help="The person whose open period ends.")
@click.option("--enrolment", type=int, default=None, help="Or the enrolment's id.")
@click.option("--to", "ended_on", type=DATE, required=True, help="Last day (YYYY-MM-DD).")
@KEY
@AS_USER
@click.pass_context
def projects_volunteer_end(
    ctx: click.Context,
    person: int | None,
    enrolment: int | None,
    ended_on: datetime,
    key: str,
    as_email: str | None,
) -> None:
    """End an enrolment in the register of volunteers on a day (included)."""
    if (person is None) == (enrolment is None):
        raise click.UsageError("give either --person or --enrolment")
    ledger = open_ledger(ctx)
    ended = ledger.run(
        lambda s: (
            commands.end_volunteer(
                s,
                enrolment_id=enrolment,
                person_id=person,
                ended_on=ended_on.date(),
                origin=_origin(s, as_email),
                clock=ledger.clock,
                key=key,
            ).value.id
        )
    )
    click.echo(f"enrolment {ended} ended on {ended_on.date().isoformat()}")


@projects.command("volunteer-hours")
@click.argument("project_id", type=int)
@click.option(
    "--person", type=int, required=True, help="The person id of a volunteer enrolled that day."
)
@click.option("--activity", required=True)
@click.option("--role", required=True)
@click.option("--minutes", type=int, required=True)
@click.option("--date", "done_on", type=DATE, required=True)
@KEY
@AS_USER
@click.pass_context
def projects_volunteer_hours(
    ctx: click.Context,
    project_id: int,
    person: int,
    activity: str,
    role: str,
    minutes: int,
    done_on: datetime,
    key: str,
    as_email: str | None,
) -> None:
    """Record an enrolled volunteer's time on an activity (figurative)."""
    ledger = open_ledger(ctx)
    value = ledger.run(
        lambda s: (
            commands.record_volunteer_hours(
                s,
                project_id,
                person_id=person,
                activity=activity,
                role=role,
                minutes=minutes,
                done_on=done_on.date(),
                origin=_origin(s, as_email),
                clock=ledger.clock,
                key=key,
            ).value
        )
    )
    click.echo(f"recorded as entry {value.sequence} ({value.value_minor} minor units)")


@projects.command("charge")
@click.argument("document_id", type=int)
@click.option("--project", "project_id", type=int, required=True)
@click.option(
    "--line",
    "lines",
    multiple=True,
    required=True,
    help="LINE:SOURCE[:REF]:AMOUNT (REF: a grant's foundation id, a partner's id).",
)
@KEY
@AS_USER
@click.pass_context
def projects_charge(
    ctx: click.Context,
    document_id: int,
    project_id: int,
    lines: tuple[str, ...],
    key: str,
    as_email: str | None,
) -> None:
    """Charge more of a recorded document (refused beyond its eligible amount)."""
    ledger = open_ledger(ctx)
    done = ledger.run(
        lambda s: (
            commands.charge_document(
                s,
                document_id,
                [_allocation(s, project_id, t) for t in lines],
                origin=_origin(s, as_email),
                clock=ledger.clock,
                key=key,
            ).value
        )
    )
    click.echo(f"charged document {document_id} as entry {done.sequence}")


@projects.command("proof")
@click.argument("document_id", type=int)
@click.option("--bank-line", type=int, default=None, help="A reconciled outgoing bank line.")
@click.option("--entry", type=int, default=None, help="A journal entry's sequence.")
@AS_USER
@click.pass_context
def projects_proof(
    ctx: click.Context,
    document_id: int,
    bank_line: int | None,
    entry: int | None,
    as_email: str | None,
) -> None:
    """Attach a document's proof of payment (once)."""
    ledger = open_ledger(ctx)
    ledger.run(
        lambda s: commands.record_proof(
            s,
            document_id,
            payment_line_id=bank_line,
            payment_sequence=entry,
            origin=_origin(s, as_email),
            clock=ledger.clock,
        )
    )
    click.echo(f"proof of payment of document {document_id} recorded")


@projects.command("in-kind")
@click.argument("project_id", type=int)
@click.argument("fair_value")
@click.option("--description", required=True)
@click.option("--date", "received_on", type=DATE, required=True)
@click.option("--organisation", type=int, default=None, help="The giving organisation.")
@KEY
@AS_USER
@click.pass_context
def projects_in_kind(
    ctx: click.Context,
    project_id: int,
    fair_value: str,
    description: str,
    received_on: datetime,
    organisation: int | None,
    key: str,
    as_email: str | None,
) -> None:
    """Record goods or services received in kind at fair value (figurative)."""
    ledger = open_ledger(ctx)
    value = ledger.run(
        lambda s: (
            commands.record_in_kind(
                s,
                project_id,
                description=description,
                fair_value_minor=_minor(s, project_id, fair_value),
                received_on=received_on.date(),
                organisation_id=organisation,
                origin=_origin(s, as_email),
                clock=ledger.clock,
                key=key,
            ).value
        )
    )
    click.echo(f"recorded as entry {value.sequence}")
