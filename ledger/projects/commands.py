"""Use cases of projects: what project staff, a treasurer or an operator does, in one shape.

Each function here is one act. It takes the act's arguments, an `Origin` and,
when the act can be repeated, the caller's request key; it checks, writes
through the bookkeeping modules (`service`, `expenses`, `money_in`,
`figurative`, `volunteers`), records its own audit event under the action declared below and
returns an `Outcome` saying whether this call did it. Pages, the API and the
CLI call these and only translate input and output.

Acts that need a second person (approving a budget, paying out a campaign)
need a signed-in user in the origin: the four-eyes rule compares users.
Who may act on which project is the caller's access rule
(`getters.projects_visible_to` for reading).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import date

from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.core.money import format_minor
from ledger.people.errors import NotAllowedError
from ledger.people.models import User
from ledger.projects import expenses, figurative, money_in, service, volunteers
from ledger.projects.errors import FourEyesError, InvalidProjectError
from ledger.projects.expenses import AllocationSpec, Expense
from ledger.projects.figurative import Figurative
from ledger.projects.getters import (
    STAFF_ROLES,
    get_organisation,
    get_project,
    get_version,
    may_keep_volunteer_register,
)
from ledger.projects.models import (
    BudgetVersion,
    OrganisationMember,
    Project,
    ProjectOrganisation,
    VolunteerEnrolment,
    VolunteerRate,
)
from ledger.projects.money_in import Received
from ledger.projects.service import FunderSettings, LineSpec

CREATE_ORGANISATION = command("project.create_organisation", "organisation")
ADD_MEMBER = command("project.add_member", "organisation")
CREATE_PROJECT = command("project.create", "project")
PROPOSE_BUDGET = command("project.propose_budget", "budget_version")
APPROVE_BUDGET = command("project.approve_budget", "budget_version")
RECORD_EXPENSE = command("project.record_expense", "project_document")
CHARGE_DOCUMENT = command("project.charge_document", "project_document")
RECORD_PROOF = command("project.record_proof", "project_document")
RECEIVE_GRANT = command("project.receive_grant", "project")
RECEIVE_CONTRIBUTION = command("project.receive_contribution", "project")
LINK_CAMPAIGN = command("project.link_campaign", "project")
PROPOSE_PAYOUT = command("project.propose_payout", "project_receipt")
PAY_PAYOUT = command("project.pay_payout", "project_receipt")
SET_VOLUNTEER_RATE = command("project.set_volunteer_rate", "volunteer_rate")
RECORD_VOLUNTEER_HOURS = command("project.record_volunteer_hours", "project")
RECORD_IN_KIND = command("project.record_in_kind", "project")
ENROL_VOLUNTEER = command("project.enrol_volunteer", "volunteer_enrolment")
END_VOLUNTEER = command("project.end_volunteer", "volunteer_enrolment")


def _acting(
    session: Session,
    origin: Origin,
    may: Callable[[Session, User], bool],
    *,
    refused: str,
    anonymous: str,
    field: str | None = None,
) -> None:
    """Who may do an act, decided in the use case so the pages, the API and the CLI
    share the rule: an operator at the console, or an active user `may` admits;
    NotAllowedError (nothing written) for anyone else."""
    if origin.user_id is None:
        if origin.channel == "cli":
            return
        raise NotAllowedError(anonymous, **({"field": field} if field else {}))
    user = session.get(User, origin.user_id)
    if user is None or not user.active or not may(session, user):
        raise NotAllowedError(refused, **({"field": field} if field else {}))


def _register_keeper(session: Session, origin: Origin) -> None:
    """The register of volunteers is kept by those who record volunteer hours, at the
    organisation's level (`getters.may_keep_volunteer_register`)."""
    _acting(
        session,
        origin,
        may_keep_volunteer_register,
        refused="Il registro dei volontari lo tiene chi registra le ore di volontariato "
        "(personale dei progetti, tesoreria, amministrazione).",
        anonymous="Il registro dei volontari lo tiene una persona identificata.",
        field="register",
    )


def _user(origin: Origin) -> int:
    if origin.user_id is None:
        raise FourEyesError(
            "Questo atto richiede una persona identificata (regola dei quattro occhi)."
        )
    return origin.user_id


def _treasury(session: Session, origin: Origin, act: str) -> None:
    """Acts that decide what money a project receives or what its volunteers' time is
    worth (linking a campaign, paying a campaign out, the rate table shared by every
    project) belong to the treasury: a treasurer or an admin. A project's own staff may
    propose a payout, never link a campaign or pay one: two colleagues of one project
    could otherwise move any campaign's donations and matches into it (security review,
    2026-12-07)."""
    _acting(
        session,
        origin,
        lambda _session, user: bool(user.roles & STAFF_ROLES),
        refused=f"{act}: solo la tesoreria o l'amministrazione.",
        anonymous=f"{act}: serve una persona della tesoreria o dell'amministrazione.",
    )


def create_organisation(
    session: Session,
    *,
    name: str,
    kind: str,
    tax_code: str | None = None,
    vat_number: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[ProjectOrganisation]:
    """Register a partner, co-funder or supplier organisation."""
    claim = begin(
        session,
        CREATE_ORGANISATION,
        origin,
        clock=clock,
        key=key,
        request={"name": name, "kind": kind, "tax_code": tax_code, "vat_number": vat_number},
    )
    if claim.earlier is not None:
        return claim.replay(get_organisation(session, claim.earlier.id))
    row = service.create_organisation(
        session, name=name, kind=kind, tax_code=tax_code, vat_number=vat_number, clock=clock
    )
    return claim.done(row, subject_id=row.id, details={"kind": row.kind})


def add_organisation_member(
    session: Session,
    *,
    organisation_id: int,
    user_id: int,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[OrganisationMember]:
    """Let a user with the project staff or partner role act for an organisation."""
    claim = begin(
        session,
        ADD_MEMBER,
        origin,
        clock=clock,
        key=key,
        request={"organisation": organisation_id, "user": user_id},
    )
    if claim.earlier is not None:
        row = session.get(OrganisationMember, (organisation_id, user_id))
        assert row is not None
        return claim.replay(row)
    row = service.add_member(session, organisation_id=organisation_id, user_id=user_id, clock=clock)
    return claim.done(row, subject_id=organisation_id, details={"user": user_id})


def create_project(
    session: Session,
    *,
    title: str,
    lead_organisation_id: int,
    starts_on: date,
    ends_on: date,
    currency: str = "EUR",
    programme: str | None = None,
    call_reference: str | None = None,
    partners: Sequence[tuple[int, str]] = (),
    funders: Sequence[FunderSettings] = (),
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Project]:
    """Create a project with its lead, partners and funders (with their settings)."""
    claim = begin(
        session,
        CREATE_PROJECT,
        origin,
        clock=clock,
        key=key,
        request={
            "title": title,
            "lead": lead_organisation_id,
            "starts_on": starts_on,
            "ends_on": ends_on,
            "currency": currency,
            "programme": programme,
            "call_reference": call_reference,
            "partners": [list(p) for p in partners],
            "funders": [f.plain() for f in funders],
        },
    )
    if claim.earlier is not None:
        return claim.replay(get_project(session, claim.earlier.id))
    project = service.create_project(
        session,
        title=title,
        lead_organisation_id=lead_organisation_id,
        starts_on=starts_on,
        ends_on=ends_on,
        currency=currency,
        programme=programme,
        call_reference=call_reference,
        partners=partners,
        funders=funders,
        clock=clock,
        actor=origin.actor,
    )
    return claim.done(
        project,
        subject_id=project.id,
        details={
            "lead": lead_organisation_id,
            "partners": len(partners),
            "funders": [f.foundation_id for f in funders],
        },
    )


def propose_budget(
    session: Session,
    project_id: int,
    lines: Sequence[LineSpec],
    *,
    note: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[BudgetVersion]:
    """Propose the next budget version (the first budget or a revision), checked
    against every funder's settings (BudgetRuleError: nothing written)."""
    claim = begin(
        session,
        PROPOSE_BUDGET,
        origin,
        clock=clock,
        key=key,
        request={"project": project_id, "lines": [s.plain() for s in lines], "note": note},
    )
    if claim.earlier is not None:
        return claim.replay(get_version(session, claim.earlier.id))
    version = service.propose_budget(
        session,
        project_id,
        lines,
        proposed_by_user_id=_user(origin),
        note=note,
        clock=clock,
    )
    return claim.done(
        version,
        subject_id=version.id,
        details={"project": project_id, "number": version.number, "lines": len(lines)},
    )


def approve_budget(
    session: Session,
    version_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[BudgetVersion]:
    """Approve a proposed version: a person other than its proposer (FourEyesError).
    With a key, a repeat answers the approved version and writes nothing."""
    claim = begin(
        session, APPROVE_BUDGET, origin, clock=clock, key=key, request={"version": version_id}
    )
    if claim.earlier is not None:
        return claim.replay(get_version(session, claim.earlier.id))
    version = service.approve_budget(
        session, version_id, approved_by_user_id=_user(origin), clock=clock
    )
    return claim.done(
        version,
        subject_id=version.id,
        details={"project": version.project_id, "number": version.number},
    )


def _expense_replay(claim_result: dict[str, object]) -> Expense:
    return Expense(
        document_id=int(str(claim_result["document_id"])),
        sequence=int(str(claim_result["sequence"])),
        eligible_minor=int(str(claim_result["eligible"])),
        allocated_minor=int(str(claim_result["allocated"])),
    )


def _expense_result(expense: Expense) -> dict[str, object]:
    return {
        "document_id": expense.document_id,
        "sequence": expense.sequence,
        "eligible": expense.eligible_minor,
        "allocated": expense.allocated_minor,
    }


def record_expense(
    session: Session,
    project_id: int,
    *,
    kind: str,
    supplier_id: int,
    number: str,
    issued_on: date,
    net_minor: int,
    vat_minor: int,
    vat_recoverable: bool,
    paid_by: str,
    allocations: Sequence[AllocationSpec],
    partner_id: int | None = None,
    file: bytes | None = None,
    payment_line_id: int | None = None,
    payment_sequence: int | None = None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Expense]:
    """Record an expense document (with its file and proof of payment) and its
    allocations, and book it: refused, nothing written, beyond its eligible amount."""
    claim = begin(
        session,
        RECORD_EXPENSE,
        origin,
        clock=clock,
        key=key,
        request={
            "project": project_id,
            "kind": kind,
            "supplier": supplier_id,
            "number": number,
            "issued_on": issued_on,
            "net": net_minor,
            "vat": vat_minor,
            "vat_recoverable": vat_recoverable,
            "paid_by": paid_by,
            "partner": partner_id,
            "allocations": [a.plain() for a in allocations],
            "file_sha256": hashlib.sha256(file).hexdigest() if file is not None else None,
            "payment_line": payment_line_id,
            "payment_sequence": payment_sequence,
        },
    )
    if claim.earlier is not None:
        return claim.replay(_expense_replay(dict(claim.earlier.result)))
    expense = expenses.record_expense(
        session,
        project_id,
        kind=kind,
        supplier_id=supplier_id,
        number=number,
        issued_on=issued_on,
        net_minor=net_minor,
        vat_minor=vat_minor,
        vat_recoverable=vat_recoverable,
        paid_by=paid_by,
        allocations=allocations,
        partner_id=partner_id,
        file=file,
        payment_line_id=payment_line_id,
        payment_sequence=payment_sequence,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
    )
    currency = get_project(session, project_id).currency
    return claim.done(
        expense,
        subject_id=expense.document_id,
        details={
            "project": project_id,
            "eligible": format_minor(expense.eligible_minor, currency),
            "allocated": format_minor(expense.allocated_minor, currency),
            "sequence": expense.sequence,
        },
        result=_expense_result(expense),
    )


def charge_document(
    session: Session,
    document_id: int,
    allocations: Sequence[AllocationSpec],
    *,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Expense]:
    """Charge more of a recorded document; refused beyond its eligible amount."""
    claim = begin(
        session,
        CHARGE_DOCUMENT,
        origin,
        clock=clock,
        key=key,
        request={"document": document_id, "allocations": [a.plain() for a in allocations]},
    )
    if claim.earlier is not None:
        return claim.replay(_expense_replay(dict(claim.earlier.result)))
    expense = expenses.charge_document(
        session,
        document_id,
        allocations,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
    )
    return claim.done(
        expense,
        subject_id=document_id,
        details={"allocated": expense.allocated_minor, "sequence": expense.sequence},
        result=_expense_result(expense),
    )


def record_proof(
    session: Session,
    document_id: int,
    *,
    payment_line_id: int | None = None,
    payment_sequence: int | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[int]:
    """Attach a document's proof of payment: a reconciled bank line or an entry (once)."""
    claim = begin(
        session,
        RECORD_PROOF,
        origin,
        clock=clock,
        key=key,
        request={
            "document": document_id,
            "payment_line": payment_line_id,
            "payment_sequence": payment_sequence,
        },
    )
    if claim.earlier is not None:
        return claim.replay(claim.earlier.id)
    document = expenses.record_proof(
        session,
        document_id,
        payment_line_id=payment_line_id,
        payment_sequence=payment_sequence,
    )
    return claim.done(
        document.id,
        subject_id=document.id,
        details={"bank_line": payment_line_id, "sequence": payment_sequence},
    )


def _received(result: dict[str, object]) -> Received:
    return Received(
        receipt_id=int(str(result["receipt_id"])),
        sequence=int(str(result["sequence"])),
        amount_minor=int(str(result["amount"])),
    )


def _received_result(received: Received) -> dict[str, object]:
    return {
        "receipt_id": received.receipt_id,
        "sequence": received.sequence,
        "amount": received.amount_minor,
    }


def receive_grant(
    session: Session,
    project_id: int,
    funder_id: int,
    amount_minor: int,
    *,
    kind: str = "grant_advance",
    received_on: date | None = None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Received]:
    """Book a funder's advance or tranche received by the project (once per key)."""
    claim = begin(
        session,
        RECEIVE_GRANT,
        origin,
        clock=clock,
        key=key,
        request={
            "project": project_id,
            "funder": funder_id,
            "amount": amount_minor,
            "kind": kind,
            "received_on": received_on,
        },
    )
    if claim.earlier is not None:
        return claim.replay(_received(dict(claim.earlier.result)))
    received = money_in.receive_grant(
        session,
        project_id,
        funder_id,
        amount_minor,
        kind=kind,
        received_on=received_on,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
    )
    return claim.done(
        received,
        subject_id=project_id,
        details={"funder": funder_id, "kind": kind, "sequence": received.sequence},
        result=_received_result(received),
    )


def receive_contribution(
    session: Session,
    project_id: int,
    organisation_id: int,
    amount_minor: int,
    *,
    received_on: date | None = None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Received]:
    """Book a partner's cash contribution through the bank (once per key)."""
    claim = begin(
        session,
        RECEIVE_CONTRIBUTION,
        origin,
        clock=clock,
        key=key,
        request={
            "project": project_id,
            "partner": organisation_id,
            "amount": amount_minor,
            "received_on": received_on,
        },
    )
    if claim.earlier is not None:
        return claim.replay(_received(dict(claim.earlier.result)))
    received = money_in.receive_contribution(
        session,
        project_id,
        organisation_id,
        amount_minor,
        received_on=received_on,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
    )
    return claim.done(
        received,
        subject_id=project_id,
        details={"partner": organisation_id, "sequence": received.sequence},
        result=_received_result(received),
    )


def link_campaign(
    session: Session,
    project_id: int,
    campaign_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[int]:
    """Link a campaign to the project: its money is paid out to it once it succeeds."""
    claim = begin(
        session,
        LINK_CAMPAIGN,
        origin,
        clock=clock,
        key=key,
        request={"project": project_id, "campaign": campaign_id},
    )
    if claim.earlier is not None:
        return claim.replay(campaign_id)
    _treasury(session, origin, "Collegare una campagna a un progetto")
    money_in.link_campaign(session, project_id, campaign_id, clock=clock)
    return claim.done(campaign_id, subject_id=project_id, details={"campaign": campaign_id})


def propose_payout(
    session: Session,
    project_id: int,
    campaign_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[int]:
    """Propose paying a succeeded campaign's escrow and released matches to the project
    (once per campaign); a second person pays it (`pay_payout`)."""
    claim = begin(
        session,
        PROPOSE_PAYOUT,
        origin,
        clock=clock,
        key=key,
        request={"project": project_id, "campaign": campaign_id},
    )
    if claim.earlier is not None:
        return claim.replay(claim.earlier.id)
    receipt = money_in.propose_payout(
        session, project_id, campaign_id, proposed_by_user_id=_user(origin), clock=clock
    )
    return claim.done(
        receipt.id,
        subject_id=receipt.id,
        details={
            "project": project_id,
            "campaign": campaign_id,
            "escrow": receipt.escrow_minor,
            "match": receipt.match_minor,
        },
    )


def pay_payout(
    session: Session,
    receipt_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Received]:
    """Pay a proposed campaign payout: a person other than the proposer; one entry."""
    claim = begin(
        session, PAY_PAYOUT, origin, clock=clock, key=key, request={"receipt": receipt_id}
    )
    if claim.earlier is not None:
        return claim.replay(_received(dict(claim.earlier.result)))
    payer = _user(origin)
    _treasury(session, origin, "Eseguire il versamento di una campagna")
    received = money_in.pay_payout(
        session, receipt_id, paid_by_user_id=payer, clock=clock, actor=origin.actor
    )
    return claim.done(
        received,
        subject_id=receipt_id,
        details={"sequence": received.sequence},
        result=_received_result(received),
    )


def set_volunteer_rate(
    session: Session,
    *,
    role: str,
    hourly_minor: int,
    valid_from: date,
    currency: str = "EUR",
    basis: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[VolunteerRate]:
    """Add a row to the volunteer rate table: a role's hourly rate from a date."""
    claim = begin(
        session,
        SET_VOLUNTEER_RATE,
        origin,
        clock=clock,
        key=key,
        request={
            "role": role,
            "hourly": hourly_minor,
            "valid_from": valid_from,
            "currency": currency,
            "basis": basis,
        },
    )
    if claim.earlier is not None:
        rate = session.get(VolunteerRate, claim.earlier.id)
        assert rate is not None
        return claim.replay(rate)
    _treasury(session, origin, "Modificare la tabella delle tariffe del volontariato")
    rate = figurative.set_rate(
        session,
        role=role,
        hourly_minor=hourly_minor,
        valid_from=valid_from,
        currency=currency,
        basis=basis,
        clock=clock,
    )
    return claim.done(
        rate,
        subject_id=rate.id,
        details={"role": rate.role, "hourly": hourly_minor, "from": valid_from.isoformat()},
    )


def _figurative(result: dict[str, object]) -> Figurative:
    return Figurative(
        item_id=int(str(result["item_id"])),
        sequence=int(str(result["sequence"])),
        value_minor=int(str(result["value"])),
    )


def _figurative_result(item: Figurative) -> dict[str, object]:
    return {"item_id": item.item_id, "sequence": item.sequence, "value": item.value_minor}


def record_volunteer_hours(
    session: Session,
    project_id: int,
    *,
    person_id: int,
    activity: str,
    role: str,
    minutes: int,
    done_on: date,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Figurative]:
    """Record the time of a volunteer enrolled in the register on `done_on` on an activity
    (figurative, once per key); refused, nothing written, for anyone not enrolled then."""
    claim = begin(
        session,
        RECORD_VOLUNTEER_HOURS,
        origin,
        clock=clock,
        key=key,
        request={
            "project": project_id,
            "person": person_id,
            "activity": activity,
            "role": role,
            "minutes": minutes,
            "done_on": done_on,
        },
    )
    if claim.earlier is not None:
        return claim.replay(_figurative(dict(claim.earlier.result)))
    item = figurative.record_hours(
        session,
        project_id,
        person_id=person_id,
        activity=activity,
        role=role,
        minutes=minutes,
        done_on=done_on,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
    )
    return claim.done(
        item,
        subject_id=project_id,
        details={"minutes": minutes, "value": item.value_minor, "sequence": item.sequence},
        result=_figurative_result(item),
    )


def record_in_kind(
    session: Session,
    project_id: int,
    *,
    description: str,
    fair_value_minor: int,
    received_on: date,
    organisation_id: int | None = None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Figurative]:
    """Record goods or services received in kind at fair value (figurative, once per key)."""
    claim = begin(
        session,
        RECORD_IN_KIND,
        origin,
        clock=clock,
        key=key,
        request={
            "project": project_id,
            "description": description,
            "value": fair_value_minor,
            "received_on": received_on,
            "organisation": organisation_id,
        },
    )
    if claim.earlier is not None:
        return claim.replay(_figurative(dict(claim.earlier.result)))
    item = figurative.record_in_kind(
        session,
        project_id,
        description=description,
        fair_value_minor=fair_value_minor,
        received_on=received_on,
        organisation_id=organisation_id,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
    )
    return claim.done(
        item,
        subject_id=project_id,
        details={"value": item.value_minor, "sequence": item.sequence},
        result=_figurative_result(item),
    )


def enrol_volunteer(
    session: Session,
    *,
    person_id: int,
    enrolled_on: date,
    activity: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[VolunteerEnrolment]:
    """Enrol a person in the organisation's register of volunteers (art. 17 c.1 CTS) from
    a day: refused (VolunteerRegisterError, nothing written) while they have an open
    enrolment or when the period would overlap an earlier one; NotAllowedError for a
    user who does not keep the register. The audit event names ids and dates only,
    never the person's name or the service's text."""
    claim = begin(
        session,
        ENROL_VOLUNTEER,
        origin,
        clock=clock,
        key=key,
        request={"person": person_id, "enrolled_on": enrolled_on, "activity": activity},
    )
    if claim.earlier is not None:
        return claim.replay(volunteers.get_enrolment(session, claim.earlier.id))
    _register_keeper(session, origin)
    row = volunteers.enrol(
        session, person_id=person_id, enrolled_on=enrolled_on, activity=activity, clock=clock
    )
    return claim.done(
        row,
        subject_id=row.id,
        details={"person": row.person_id, "from": row.enrolled_on.isoformat()},
    )


def end_volunteer(
    session: Session,
    *,
    enrolment_id: int | None = None,
    person_id: int | None = None,
    ended_on: date,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[VolunteerEnrolment]:
    """End an enrolment in the register on `ended_on` (included): the enrolment by its id,
    or the person's open one. Refused, nothing written, before its first day
    (InvalidProjectError), when it is ended already or hours of the person are recorded
    after that day (VolunteerRegisterError)."""
    if (enrolment_id is None) == (person_id is None):
        raise InvalidProjectError(
            "Indica l'iscrizione oppure la persona (una delle due).", field="enrolment"
        )
    claim = begin(
        session,
        END_VOLUNTEER,
        origin,
        clock=clock,
        key=key,
        request={"enrolment": enrolment_id, "person": person_id, "ended_on": ended_on},
    )
    if claim.earlier is not None:
        return claim.replay(volunteers.get_enrolment(session, claim.earlier.id))
    _register_keeper(session, origin)
    if enrolment_id is not None:
        row = volunteers.get_enrolment(session, enrolment_id, lock=True)
    else:
        assert person_id is not None
        row = volunteers.open_enrolment_of(session, person_id)
    volunteers.end(session, row, ended_on=ended_on, clock=clock)
    return claim.done(
        row,
        subject_id=row.id,
        details={"person": row.person_id, "to": ended_on.isoformat()},
    )
