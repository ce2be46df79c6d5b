"""The command machinery (`ledger.commands`) and the fund use cases built on it.

Every use case answers a repeat of its key with the original outcome and
refuses the same key with another request, writing nothing; two concurrent
requests with one key make one effect (PostgreSQL, where they really race).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.commands import Origin, begin, command, declared, request_hash
from ledger.core.errors import InvalidEntryError
from ledger.core.models import JournalEntry
from ledger.core.service import Ledger
from ledger.funds import commands as fund_commands
from ledger.funds import service as funds
from ledger.funds.accounts import FundAccounts
from ledger.funds.errors import InvalidFundError
from ledger.people.service import NewPerson, create_user
from tests.integration.commands_helpers import assert_once, footprint

TREASURER = Origin(channel="api", user_id=None, source="127.0.0.1")


def test_a_request_hash_ignores_key_order_and_refuses_floats() -> None:
    assert request_hash({"a": 1, "b": date(2026, 1, 2)}) == request_hash(
        {"b": date(2026, 1, 2), "a": 1}
    )
    assert request_hash({"a": 1}) != request_hash({"a": 2})
    with pytest.raises(TypeError):
        request_hash({"amount": 12.5})


def test_an_action_can_be_declared_only_once() -> None:
    assert declared()["fund.deposit"] is fund_commands.DEPOSIT
    with pytest.raises(ValueError, match="already declared"):
        command("fund.deposit", "fund")


def test_keys_are_scoped_by_caller_so_two_callers_never_meet(ledger: Ledger) -> None:
    def user(email: str) -> int:
        return ledger.run(
            lambda s: (
                create_user(
                    s,
                    NewPerson(email, "Tesoriera"),
                    roles=["treasurer"],
                    password=None,
                    now=ledger.clock.now(),
                ).id
            )
        )

    first, second = user("prima@example.it"), user("seconda@example.it")
    fund = ledger.run(
        lambda s: fund_commands.create_fund(
            s,
            name="Fondo",
            kind="revolving",
            currency="EUR",
            origin=TREASURER,
            clock=ledger.clock,
        )
    ).value

    def deposit(origin: Origin, key: str) -> Any:
        return ledger.run(
            lambda s: fund_commands.deposit(
                s, fund.id, 100, source="donation", origin=origin, clock=ledger.clock, key=key
            )
        )

    # Two users, a visitor whose key looks like a user's scope, an operator: four deposits.
    callers = [
        (Origin(channel="web", user_id=first), "k"),
        (Origin(channel="web", user_id=second), "k"),
        (Origin(channel="web"), f"{first}:k"),
        (Origin(channel="cli"), "k"),
    ]
    assert [deposit(origin, key).created for origin, key in callers] == [True] * 4
    assert ledger.balance(FundAccounts(fund.id).cash).posted == 400
    keys = ledger.read(
        lambda s: sorted(
            s.scalars(
                select(JournalEntry.idempotency_key).where(JournalEntry.kind == "fund_deposit")
            )
        )
    )
    assert keys == sorted(
        [
            f"fund:{fund.id}:deposit:web:{first}:k",
            f"fund:{fund.id}:deposit:web:{second}:k",
            f"fund:{fund.id}:deposit:web:anon:{first}:k",
            f"fund:{fund.id}:deposit:cli:k",
        ]
    )


def test_an_empty_or_over_long_key_is_refused_with_nothing_written(ledger: Ledger) -> None:
    before = footprint(ledger)
    for key in ("", "k" * 256):
        with pytest.raises(InvalidEntryError):
            ledger.run(
                lambda s, key=key: fund_commands.create_fund(
                    s,
                    name="Fondo",
                    kind="microgrant",
                    currency="EUR",
                    origin=TREASURER,
                    clock=ledger.clock,
                    key=key,
                )
            )
    assert footprint(ledger) == before


def test_a_refused_act_does_not_spend_its_key(ledger: Ledger) -> None:
    def create(s: Session, name: str) -> Any:
        return fund_commands.create_fund(
            s,
            name=name,
            kind="microgrant",
            currency="EUR",
            origin=TREASURER,
            clock=ledger.clock,
            key="k",
        )

    with pytest.raises(InvalidFundError):
        ledger.run(lambda s: create(s, ""))
    assert ledger.run(lambda s: create(s, "Fondo")).created is True


def test_creating_a_fund_twice_with_one_key_creates_one_and_audits_once(ledger: Ledger) -> None:
    def act(s: Session, key: str, name: str = "Fondo idee") -> Any:
        return fund_commands.create_fund(
            s,
            name=name,
            kind="microgrant",
            currency="EUR",
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "Un altro fondo"))
    events = ledger.read(
        lambda s: [(e.action, e.subject_id) for e in s.scalars(select(AuditEvent))]
    )
    assert events == [("fund.create", str(first.value.id))]


def test_a_deposit_twice_with_one_key_books_once(ledger: Ledger) -> None:
    fund = ledger.run(
        lambda s: fund_commands.create_fund(
            s,
            name="Fondo",
            kind="revolving",
            currency="EUR",
            origin=TREASURER,
            clock=ledger.clock,
        )
    ).value

    def act(s: Session, key: str, amount: int = 50_000) -> Any:
        return fund_commands.deposit(
            s,
            fund.id,
            amount,
            source="donation",
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
            reference="bonifico 42",
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, 40_000))
    assert ledger.balance(FundAccounts(fund.id).cash).posted == 50_000
    key = ledger.read(
        lambda s: s.scalars(
            select(JournalEntry.idempotency_key).where(
                JournalEntry.sequence == first.value.sequence
            )
        ).one()
    )
    assert key == f"fund:{fund.id}:deposit:api:anon:request-1"


def test_a_deposit_dated_in_the_future_is_refused_with_nothing_written(ledger: Ledger) -> None:
    fund = ledger.run(
        lambda s: fund_commands.create_fund(
            s,
            name="Fondo",
            kind="revolving",
            currency="EUR",
            origin=TREASURER,
            clock=ledger.clock,
        )
    ).value
    before = footprint(ledger)
    with pytest.raises(InvalidFundError) as refused:
        ledger.run(
            lambda s: fund_commands.deposit(
                s,
                fund.id,
                100,
                source="donation",
                origin=TREASURER,
                clock=ledger.clock,
                key="k",
                effective_on=date(2027, 1, 1),
            )
        )
    assert refused.value.details["field"] == "effective_on"
    assert footprint(ledger) == before


@pytest.mark.postgres_only
def test_concurrent_requests_with_one_key_make_one_effect(pg_ledger: Ledger) -> None:
    ledger = pg_ledger
    fund = ledger.run(
        lambda s: fund_commands.create_fund(
            s,
            name="Fondo",
            kind="revolving",
            currency="EUR",
            origin=TREASURER,
            clock=ledger.clock,
        )
    ).value
    start = threading.Barrier(6)

    def one(_: int) -> bool:
        start.wait()
        outcome = ledger.run(
            lambda s: fund_commands.deposit(
                s,
                fund.id,
                1_000,
                source="donation",
                origin=TREASURER,
                clock=ledger.clock,
                key="once",
            )
        )
        return outcome.created

    with ThreadPoolExecutor(6) as pool:
        created = list(pool.map(one, range(6)))
    assert sorted(created) == [False] * 5 + [True]
    assert ledger.balance(FundAccounts(fund.id).cash).posted == 1_000
    actions = ledger.read(lambda s: list(s.scalars(select(AuditEvent.action))))
    assert actions.count("fund.deposit") == 1


def test_replay_and_done_cannot_be_mixed_up(ledger: Ledger) -> None:
    probe = fund_commands.CREATE_FUND

    def fresh(s: Session) -> None:
        claim = begin(s, probe, TREASURER, clock=ledger.clock)
        with pytest.raises(RuntimeError):
            claim.replay(None)

    ledger.run(fresh)


def test_a_deposit_booked_before_request_keys_were_kept_is_answered_as_a_repeat(
    ledger: Ledger,
) -> None:
    fund = ledger.run(
        lambda s: fund_commands.create_fund(
            s,
            name="Fondo",
            kind="revolving",
            currency="EUR",
            origin=TREASURER,
            clock=ledger.clock,
        )
    ).value
    earlier = ledger.run(
        lambda s: funds.deposit(
            s, fund.id, 5_000, source="donation", key=TREASURER.scoped("old"), clock=ledger.clock
        )
    )
    outcome = ledger.run(
        lambda s: fund_commands.deposit(
            s, fund.id, 5_000, source="donation", origin=TREASURER, clock=ledger.clock, key="old"
        )
    )
    assert (outcome.created, outcome.value.sequence) == (False, earlier.sequence)
    assert ledger.balance(FundAccounts(fund.id).cash).posted == 5_000
    actions = ledger.read(lambda s: list(s.scalars(select(AuditEvent.action))))
    assert actions == ["fund.create"]
