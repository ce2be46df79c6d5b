"""Use cases of funds: what a treasurer does to a fund, in the one command shape.

Each function here is one act. It takes the act's arguments, an `Origin` and,
when the act can be repeated, the caller's request key; it checks, writes
through `ledger.funds.service` (the bookkeeping), records its own audit event
under the action declared below, and returns an `Outcome` saying whether this
call did it. Pages, the API and the CLI call these and only translate.
The use cases of loans are in `ledger.funds.loan_commands`.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome, begin, command
from ledger.core.clock import Clock, rome_today
from ledger.core.money import format_minor
from ledger.funds import service
from ledger.funds.errors import InvalidFundError
from ledger.funds.models import Fund

CREATE_FUND = command("fund.create", "fund")
DEPOSIT = command("fund.deposit", "fund")


def create_fund(
    session: Session,
    *,
    name: str,
    kind: str,
    currency: str,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Fund]:
    """Create a fund (and its accounts) once per request key."""
    claim = begin(
        session,
        CREATE_FUND,
        origin,
        clock=clock,
        key=key,
        request={"name": name, "kind": kind, "currency": currency},
    )
    if claim.earlier is not None:
        return claim.replay(service.get_fund(session, claim.earlier.id))
    fund = service.create_fund(
        session, name=name, kind=kind, currency=currency, clock=clock, actor=origin.actor
    )
    return claim.done(
        fund, subject_id=fund.id, details={"kind": fund.kind, "currency": fund.currency}
    )


def deposit(
    session: Session,
    fund_id: int,
    amount_minor: int,
    *,
    source: str,
    origin: Origin,
    clock: Clock,
    key: str,
    effective_on: date | None = None,
    reference: str | None = None,
) -> Outcome[service.Booked]:
    """Book money into a fund (Dr fund cash, Cr capital) once per request key.

    The credit date may not be in the future (InvalidFundError, field
    `effective_on`); the rest is checked by `service.deposit`.
    """
    claim = begin(
        session,
        DEPOSIT,
        origin,
        clock=clock,
        key=key,
        request={
            "fund": fund_id,
            "amount": amount_minor,
            "source": source,
            "effective_on": effective_on,
            "reference": reference,
        },
    )
    if claim.earlier is not None:
        result = claim.earlier.result
        return claim.replay(
            service.Booked(
                entry_id=str(result["entry_id"]),
                sequence=int(result["sequence"]),
                amount_minor=amount_minor,
                created=False,
            )
        )
    if effective_on is not None and effective_on > rome_today(clock):
        raise InvalidFundError(
            "La data di accredito non può essere nel futuro.", field="effective_on"
        )
    booked = service.deposit(
        session,
        fund_id,
        amount_minor,
        source=source,
        key=origin.scoped(key),
        clock=clock,
        actor=origin.actor,
        effective_on=effective_on,
        reference=reference,
    )
    result = {"entry_id": booked.entry_id, "sequence": booked.sequence}
    if not booked.created:  # booked under this key before request keys were kept
        return claim.known(booked, subject_id=fund_id, result=result)
    fund = service.get_fund(session, fund_id)
    return claim.done(
        booked,
        subject_id=fund_id,
        details={
            "amount": format_minor(amount_minor, fund.currency),
            "source": source,
            "sequence": booked.sequence,
        },
        result=result,
    )
