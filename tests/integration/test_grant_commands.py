"""The use cases of grants (`ledger.grants.commands`), each at the domain level.

Every use case runs twice with one key (one effect, one audit event) and once
with the same key and another request (a conflict that writes nothing); the
refusals a use case itself makes write nothing either. On PostgreSQL two
requests with one key that really race make one commitment and one payment.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.commands import Origin
from ledger.core.service import Ledger
from ledger.grants import commands
from ledger.grants.errors import CommitmentStateError, OfficerRoleError
from ledger.grants.models import Commitment, FoundationOfficer
from ledger.grants.service import CommitmentSpec
from ledger.people.errors import UserNotFoundError
from ledger.people.service import NewPerson, create_user
from tests.integration.commands_helpers import assert_once, footprint
from tests.integration.grants_helpers import WINDOW, Books, eur

OFFICER = Origin(channel="web", user_id=None, source="127.0.0.1")
OPERATOR = Origin(channel="cli", source="host")


def audited(ledger: Ledger, action: str) -> list[tuple[str | None, dict[str, Any]]]:
    """The (subject id, details) of every audit event of `action`, oldest first."""
    return ledger.read(
        lambda s: [
            (e.subject_id, dict(e.details or {}))
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        ]
    )


def user(ledger: Ledger, email: str, roles: list[str]) -> int:
    return ledger.run(
        lambda s: (
            create_user(
                s,
                NewPerson(email=email, full_name="Paola Verdi"),
                roles=roles,
                password=None,
                now=ledger.clock.now(),
            ).id
        )
    )


def spec(books: Books, **settings: Any) -> CommitmentSpec:
    base: dict[str, Any] = {
        "foundation_id": books.foundation_id,
        "title": "Raddoppio di quartiere",
        "kind": "ratio",
        "ratio": "2",
        "pool_minor": eur("500.00"),
        "window_start": WINDOW[0],
        "window_end": WINDOW[1],
        "campaign_id": books.campaign_id,
    }
    base.update(settings)
    return CommitmentSpec(**base)


def test_creating_a_foundation_twice_with_one_key_creates_one(ledger: Ledger) -> None:
    def act(s: Session, key: str, name: str = "Fondazione Comunità") -> Any:
        return commands.create_foundation(
            s, name, tax_code="98012340178", origin=OPERATOR, clock=ledger.clock, key=key
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "Fondazione Altrove"))
    assert first.value.name == "Fondazione Comunità"
    assert audited(ledger, "foundation.create") == [(str(first.value.id), {})]


def test_adding_an_officer_twice_with_one_key_adds_them_once(ledger: Ledger) -> None:
    books = Books(ledger)
    paola = user(ledger, "paola@example.org", ["foundation_officer"])
    user(ledger, "marco@example.org", ["foundation_officer"])

    def act(s: Session, key: str, email: str = "Paola@Example.org ") -> Any:
        return commands.add_officer(
            s, books.foundation_id, email, origin=OPERATOR, clock=ledger.clock, key=key
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "marco@example.org"))
    assert first.value == paola
    officers = ledger.read(lambda s: list(s.scalars(select(FoundationOfficer.user_id))))
    assert officers == [paola]
    assert audited(ledger, "foundation.add_officer") == [
        (str(books.foundation_id), {"user_id": paola})
    ]


def test_an_officer_without_the_role_or_an_unknown_address_is_refused_with_nothing_written(
    ledger: Ledger,
) -> None:
    books = Books(ledger)
    user(ledger, "tesoriera@example.org", ["treasurer"])
    before = footprint(ledger)
    with pytest.raises(OfficerRoleError) as refused:
        ledger.run(
            lambda s: commands.add_officer(
                s, books.foundation_id, "tesoriera@example.org", origin=OPERATOR, clock=ledger.clock
            )
        )
    assert refused.value.code == "role_missing" and "foundation_officer" in refused.value.message
    with pytest.raises(UserNotFoundError):
        ledger.run(
            lambda s: commands.add_officer(
                s, books.foundation_id, "nessuno@example.org", origin=OPERATOR, clock=ledger.clock
            )
        )
    assert footprint(ledger) == before


def test_creating_a_commitment_twice_with_one_key_books_one_pledge(ledger: Ledger) -> None:
    books = Books(ledger)

    def act(s: Session, key: str, pool: str = "500.00") -> Any:
        return commands.create_commitment(
            s,
            spec(books, pool_minor=eur(pool)),
            origin=OFFICER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "10.00"))
    assert books.states(first.value.id)["word"] == eur("500.00")
    assert len(books.entries_of_kind("grant_pledge")) == 1
    assert audited(ledger, "commitment.create") == [
        (
            str(first.value.id),
            {"foundation_id": books.foundation_id, "kind": "ratio", "pool": "500.00"},
        )
    ]


def test_cancelling_a_commitment_twice_with_one_key_cancels_it_once(ledger: Ledger) -> None:
    books = Books(ledger)
    mine, other = (
        ledger.run(
            lambda s, title=title: (
                commands.create_commitment(
                    s, spec(books, title=title), origin=OFFICER, clock=ledger.clock
                ).value.id
            )
        )
        for title in ("Raddoppio", "Un altro raddoppio")
    )

    def act(s: Session, key: str, commitment_id: int = mine) -> Any:
        return commands.cancel_commitment(
            s, commitment_id, origin=OFFICER, clock=ledger.clock, key=key
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, other))
    assert first.value.status == "cancelled"
    assert books.states(mine)["word"] == 0
    statuses = ledger.read(
        lambda s: list(s.scalars(select(Commitment.status).order_by(Commitment.id)))
    )
    assert statuses == ["cancelled", "active"]
    assert audited(ledger, "commitment.cancel") == [(str(mine), {})]
    # Another request (another key) to cancel it again is refused.
    with pytest.raises(CommitmentStateError):
        ledger.run(lambda s: act(s, "another"))


def test_a_payment_in_twice_with_one_key_books_it_once_under_the_callers_key(
    ledger: Ledger,
) -> None:
    books = Books(ledger)
    c = books.commit(ratio="1")
    books.give("100.00")
    books.close()

    def act(s: Session, key: str, amount: str = "60.00") -> Any:
        return commands.record_disbursement(
            s,
            c,
            books.campaign_id,
            eur(amount),
            reference="  bonifico   2 ",
            origin=OPERATOR,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "40.00"))
    assert books.states(c)["disbursed"] == eur("60.00")
    assert books.entries_of_kind("match_disbursement") == [
        {
            "sequence": first.value.sequence,
            "key": f"grant:{c}:campaign:{books.campaign_id}:disbursement:request-1",
        }
    ]
    assert audited(ledger, "commitment.disbursement") == [
        (
            str(c),
            {
                "campaign_id": books.campaign_id,
                "amount": "60.00",
                "reference": "bonifico 2",
                "entry_sequence": first.value.sequence,
            },
        )
    ]


def test_a_clawback_repaid_twice_with_one_key_books_it_once(ledger: Ledger) -> None:
    books = Books(ledger)
    c = books.commit(ratio="1")
    gift = books.give("100.00")
    books.close()
    ledger.run(
        lambda s: commands.record_disbursement(
            s,
            c,
            books.campaign_id,
            eur("100.00"),
            reference="bonifico 1",
            origin=OPERATOR,
            clock=ledger.clock,
            key="bonifico 1",
        )
    )
    books.refund(gift, "30.00")
    assert books.states(c)["clawback_due"] == eur("30.00")

    def act(s: Session, key: str, amount: str = "30.00") -> Any:
        return commands.repay_clawback(
            s,
            c,
            books.campaign_id,
            eur(amount),
            reference="restituzione 1",
            origin=OFFICER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "20.00"))
    assert books.states(c)["clawback_due"] == 0
    assert [e["sequence"] for e in books.entries_of_kind("match_clawback_repaid")] == [
        first.value.sequence
    ]
    assert [details["amount"] for _, details in audited(ledger, "commitment.clawback_repaid")] == [
        "30.00"
    ]
    assert ledger.verify().ok


@pytest.mark.postgres_only
def test_concurrent_requests_with_one_key_make_one_commitment_and_one_payment(
    pg_ledger: Ledger,
) -> None:
    ledger = pg_ledger
    books = Books(ledger)
    start = threading.Barrier(6)

    def create(_: int) -> tuple[bool, int]:
        start.wait()
        outcome = ledger.run(
            lambda s: commands.create_commitment(
                s, spec(books, ratio="1"), origin=OFFICER, clock=ledger.clock, key="once"
            )
        )
        return outcome.created, outcome.value.id

    with ThreadPoolExecutor(6) as pool:
        made = list(pool.map(create, range(6)))
    assert sorted(created for created, _ in made) == [False] * 5 + [True]
    assert len({commitment_id for _, commitment_id in made}) == 1
    c = made[0][1]
    assert len(books.entries_of_kind("grant_pledge")) == 1

    books.give("100.00")
    books.close()

    def pay(_: int) -> bool:
        start.wait()
        return ledger.run(
            lambda s: commands.record_disbursement(
                s,
                c,
                books.campaign_id,
                eur("50.00"),
                reference="bonifico 9",
                origin=OPERATOR,
                clock=ledger.clock,
                key="bonifico 9",
            )
        ).created

    with ThreadPoolExecutor(6) as pool:
        paid = list(pool.map(pay, range(6)))
    assert sorted(paid) == [False] * 5 + [True]
    assert books.states(c)["disbursed"] == eur("50.00")
    actions = ledger.read(lambda s: list(s.scalars(select(AuditEvent.action))))
    assert actions.count("commitment.create") == 1
    assert actions.count("commitment.disbursement") == 1
    assert ledger.verify().ok
