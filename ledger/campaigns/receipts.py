"""Receipt numbering: per recipient organisation and year, gapless, once per gift.

A settled gift gets the next number of its organisation's year (the counter row
is locked, so two settlements never share a number). A refund voids the
receipt, which stays on file; if money remains after a partial refund, a new
receipt states the remainder. The year is the gift's date in Europe/Rome.

The donor a receipt prints is fixed when it is issued (`Receipt.donor_name`,
`donor_codice_fiscale`): the donor of the gift as the treasurer typed them,
else the person the gift refers to, else nobody ("not identified"). A receipt
is never altered: a correction voids it and issues a new one with a new number.
"""

from __future__ import annotations

from datetime import date
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ledger.campaigns.models import Campaign, Donation, Receipt, ReceiptCounter
from ledger.core.clock import Clock, rome_today
from ledger.core.intents import before_journal, pending_steps, run_before_journal
from ledger.people.models import Person

CORRECTED = "Dati del donatore corretti"


_COUNTER_TABLE = cast(Table, ReceiptCounter.__table__)
_COUNTERS = _COUNTER_TABLE.c
# Built once, plain Core on the session's connection (no counter row is loaded).
_ADVANCE = (
    update(_COUNTER_TABLE)
    .where(
        _COUNTERS.organisation_id == bindparam("b_organisation_id"),
        _COUNTERS.year == bindparam("b_year"),
    )
    .values(last_number=_COUNTERS.last_number + 1)
    .returning(_COUNTERS.last_number)
)


def _next_number(session: Session, organisation_id: int, year: int) -> int:
    """The year's next number: the counter row advanced and read in one locking UPDATE
    (the year's first receipt inserts the row; two first receipts meet on its key and
    the loser's unit of work runs again)."""
    number = (
        session.connection()
        .execute(_ADVANCE, {"b_organisation_id": organisation_id, "b_year": year})
        .scalar_one_or_none()
    )
    if number is not None:
        return int(number)
    session.add(ReceiptCounter(organisation_id=organisation_id, year=year, last_number=1))
    session.flush()
    return 1


def donor_identity(session: Session, donation: Donation) -> tuple[str | None, str | None]:
    """The donor a new receipt of the gift prints (name, codice fiscale): as given for the
    gift, else its person's, else (None, None)."""
    if donation.donor_name:
        return donation.donor_name, donation.donor_codice_fiscale
    if donation.person_id is not None:
        person = session.get(Person, donation.person_id)
        if person is not None:
            return person.full_name, person.codice_fiscale
    return None, None


_RECEIPTS = cast(Table, Receipt.__table__)
_INSERT_RECEIPT = insert(_RECEIPTS).returning(_RECEIPTS.c.id)
# PostgreSQL: the counter advanced and the receipt written with its number in one
# statement (one round trip instead of two, on every settled gift; issue 14). No row
# comes back when the year has no counter yet: `issue` then takes the two-step path.
# The receipt's values are bound as `r_<column>`: a parameter named as a column of
# the counter would be taken by its UPDATE as a value to set.
_ADVANCED = _ADVANCE.cte("advanced")
_RECEIPT_COLUMNS = [c for c in _RECEIPTS.columns if c.name != "id"]
_ADVANCE_AND_INSERT = (
    insert(_RECEIPTS)
    .from_select(
        [c.name for c in _RECEIPT_COLUMNS],
        select(
            *[
                _ADVANCED.c.last_number
                if c.name == "number"
                else bindparam(f"r_{c.name}", type_=c.type).label(c.name)
                for c in _RECEIPT_COLUMNS
            ]
        ),
    )
    .add_cte(_ADVANCED)
    .returning(_RECEIPTS.c.id)
)


def _key(donation_id: int) -> str:
    return f"receipt:{donation_id}"


def issue_last(session: Session, donation: Donation, *, clock: Clock, campaign: Campaign) -> None:
    """Give a settled gift its receipt at the end of the unit, just before its journal
    entries (`core.intents.before_journal`), for what the gift still counts then.

    The organisation's counter row is locked by the write that numbers the receipt and
    held to COMMIT: written at the call, it held every other gift to the organisation
    (on any of its campaigns) for the rest of the unit, the matching grants included;
    written last, for its last statements. Every read of receipts in the unit (here
    and in `queries`) writes the pending ones first (`write_pending`)."""
    before_journal(
        session,
        _key(donation.id),
        lambda s: issue(s, donation, clock=clock, campaign=campaign),
    )


def write_pending(session: Session, donation_id: int | None = None) -> None:
    """Write now the unit's pending receipt of the gift (of every gift if None): every
    read of receipts in a unit that may have settled a gift calls this first."""
    for key in pending_steps(session):
        if key == _key(donation_id) if donation_id is not None else key.startswith("receipt:"):
            run_before_journal(session, key)


def issue(
    session: Session, donation: Donation, *, clock: Clock, campaign: Campaign | None = None
) -> int | None:
    """Give a settled gift its receipt for what it still counts: the new receipt's id
    (None if nothing remains). Written at once by statements built once, not an ORM
    object flushed (every settled gift writes one; issue 14)."""
    write_pending(session, donation.id)
    if donation.counted_minor <= 0:
        return None
    if campaign is None:
        campaign = session.get(Campaign, donation.campaign_id)
    assert campaign is not None
    on = donation.donated_on or rome_today(clock)
    donor_name, donor_codice_fiscale = donor_identity(session, donation)
    row = {
        "donation_id": donation.id,
        "amount_minor": donation.counted_minor,
        "currency": donation.currency,
        "organisation_id": campaign.organisation_id,
        "year": on.year,
        "issued_on": rome_today(clock),
        "voided_on": None,
        "void_reason": None,
        "donor_name": donor_name,
        "donor_codice_fiscale": donor_codice_fiscale,
    }
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        receipt_id = connection.execute(
            _ADVANCE_AND_INSERT,
            {
                **{f"r_{name}": value for name, value in row.items()},
                "b_organisation_id": campaign.organisation_id,
                "b_year": on.year,
            },
        ).scalar_one_or_none()
        if receipt_id is not None:
            return int(receipt_id)
    row["number"] = _next_number(session, campaign.organisation_id, on.year)
    return int(connection.execute(_INSERT_RECEIPT, row).scalar_one())


def void(session: Session, donation: Donation, *, on: date, reason: str) -> Receipt | None:
    """Void the gift's valid receipt (a refund or a lost dispute); None if it has none."""
    receipt = valid_receipt(session, donation.id)
    if receipt is not None:
        receipt.voided_on = on
        receipt.void_reason = reason[:200]
        session.flush()
    return receipt


def reissue_after_change(
    session: Session, donation: Donation, *, clock: Clock, reason: str
) -> Receipt | None:
    """After money went back or the donor was corrected: void the receipt and, if
    something remains, issue a new one (returned)."""
    void(session, donation, on=rome_today(clock), reason=reason)
    receipt_id = issue(session, donation, clock=clock)
    return None if receipt_id is None else session.get(Receipt, receipt_id)


def valid_receipts_of_person(session: Session, person_id: int) -> list[Receipt]:
    """The valid receipts of the gifts that refer to a person, oldest first."""
    write_pending(session)
    return list(
        session.scalars(
            select(Receipt)
            .join(Donation, Donation.id == Receipt.donation_id)
            .where(Donation.person_id == person_id, Receipt.voided_on.is_(None))
            .order_by(Receipt.id)
        )
    )


def valid_receipt(session: Session, donation_id: int) -> Receipt | None:
    """The gift's receipt that is not voided (at most one, by a partial unique index)."""
    write_pending(session, donation_id)
    return session.scalars(
        select(Receipt).where(Receipt.donation_id == donation_id, Receipt.voided_on.is_(None))
    ).one_or_none()
