"""The use cases on the books (`ledger.books`): each answers a repeat of its key once.

Opening an account, posting and reversing an entry and closing a month are
run twice with one key (one effect, one audit event) and once with another
request under that key (a conflict, nothing written). Expiring holds and
loading the demo need no key: a second run finds nothing to do. A refused
act writes nothing, not even its audit event.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.books import commands as books
from ledger.books import demo_commands
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.errors import (
    AccountExistsError,
    AlreadyReversedError,
    InsufficientFundsError,
    InvalidPeriodError,
)
from ledger.core.holds import HoldSpec
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.demo import RealUsersPresentError
from ledger.people.service import NewPerson, create_user
from tests.integration.commands_helpers import assert_once, footprint

CONSOLE = Origin(channel="cli", source="ops-host")
BANK, DONATIONS = "assets:bank:intesa", "income:donations"


def treasurer(ledger: Ledger) -> Origin:
    """An API caller signed in as a treasurer (a real user: events refer to them)."""
    user = ledger.run(
        lambda s: (
            create_user(
                s,
                NewPerson("tesoriera@example.org", "Giulia"),
                roles=["treasurer"],
                password=None,
                now=ledger.clock.now(),
            ).id
        )
    )
    return Origin(channel="api", user_id=user, source="127.0.0.1")


def events(ledger: Ledger) -> list[tuple[str, str | None, str | None, dict[str, Any]]]:
    def read(session: Session) -> list[tuple[str, str | None, str | None, dict[str, Any]]]:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(e.action, e.subject_type, e.subject_id, e.details) for e in rows]

    return ledger.read(read)


def with_accounts(ledger: Ledger) -> Ledger:
    ledger.create_account(BANK, "asset")
    ledger.create_account(DONATIONS, "income")
    return ledger


def donation(amount: str = "25.00") -> list[PostingSpec]:
    money = Money.parse(amount, "EUR")
    return [PostingSpec(BANK, money), PostingSpec(DONATIONS, -money)]


def post(ledger: Ledger, origin: Origin, key: str, amount: str = "25.00") -> Any:
    return ledger.run(
        lambda s: books.post_entry(
            s,
            donation(amount),
            kind="donation",
            narration="Donazione",
            origin=origin,
            clock=ledger.clock,
            key=key,
        )
    )


# --------------------------------------------------------------------------- accounts
def test_opening_an_account_twice_with_one_key_opens_it_once_and_audits_once(ledger):
    def act(s: Session, key: str, account_type: str = "asset") -> Any:
        return books.create_account(
            s, BANK, account_type, no_overdraft=True, origin=CONSOLE, clock=ledger.clock, key=key
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "liability"))
    assert first.value.code == BANK
    assert events(ledger) == [
        (
            "account.create",
            "account",
            str(first.value.id),
            {"code": BANK, "type": "asset", "currency": "EUR", "no_overdraft": True},
        )
    ]


def test_opening_a_taken_code_without_a_key_is_refused_and_audits_nothing_more(ledger):
    def act(s: Session) -> Any:
        return books.create_account(s, BANK, "asset", origin=CONSOLE, clock=ledger.clock)

    assert ledger.run(act).created is True
    before = footprint(ledger)
    with pytest.raises(AccountExistsError):
        ledger.run(act)
    assert footprint(ledger) == before


# --------------------------------------------------------------------------- entries
def test_posting_twice_with_one_key_posts_once_under_the_callers_journal_key(ledger):
    with_accounts(ledger)
    caller = treasurer(ledger)

    def act(s: Session, key: str, amount: str = "25.00") -> Any:
        return books.post_entry(
            s,
            donation(amount),
            kind="donation",
            origin=caller,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "99.00"))
    entry = first.value
    assert (entry.idempotency_key, entry.actor) == (
        f"api:{caller.user_id}:request-1",
        f"user:{caller.user_id}",
    )
    assert events(ledger)[-1] == (
        "entry.post",
        "entry",
        str(entry.sequence),
        {"sequence": entry.sequence, "entry_id": entry.id, "kind": "donation", "postings": 2},
    )
    assert [e[0] for e in events(ledger)].count("entry.post") == 1


def test_an_operators_key_and_actor_are_written_to_the_journal_as_given(ledger):
    with_accounts(ledger)
    outcome = ledger.run(
        lambda s: books.post_entry(
            s,
            donation(),
            kind="donation",
            actor="import:bank",
            origin=CONSOLE,
            clock=ledger.clock,
            key="don-0001",
        )
    )
    assert (outcome.value.idempotency_key, outcome.value.actor) == ("don-0001", "import:bank")


def test_an_entry_the_journal_already_held_under_the_key_is_answered_and_not_audited(ledger):
    with_accounts(ledger)
    ledger.post(EntrySpec("don-0001", "donation", donation(), narration="Donazione"))
    before = footprint(ledger)
    again = post(ledger, CONSOLE, "don-0001")
    assert again.created is False and again.value.sequence == 1
    assert events(ledger) == []
    assert footprint(ledger)["journal_entries"] == before["journal_entries"]


def test_a_refused_entry_writes_nothing_and_does_not_spend_its_key(ledger):
    ledger.create_account(BANK, "asset", no_overdraft=True)
    ledger.create_account(DONATIONS, "income")
    before = footprint(ledger)
    one = Money.parse("1.00", "EUR")
    with pytest.raises(InsufficientFundsError):
        ledger.run(
            lambda s: books.post_entry(
                s,
                [PostingSpec(DONATIONS, one), PostingSpec(BANK, -one)],  # the bank is empty
                kind="transfer",
                origin=CONSOLE,
                clock=ledger.clock,
                key="k",
            )
        )
    assert footprint(ledger) == before
    assert post(ledger, CONSOLE, "k").created is True


def test_reversing_twice_with_one_key_reverses_once_and_audits_once(ledger):
    with_accounts(ledger)
    caller = treasurer(ledger)
    post(ledger, caller, "p-1")

    def act(s: Session, key: str, narration: str | None = None) -> Any:
        return books.reverse_entry(
            s, 1, narration=narration, origin=caller, clock=ledger.clock, key=key
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "Altro testo"))
    assert first.value.reverses_entry_id == ledger.entry(1).id
    assert first.value.idempotency_key == f"api:{caller.user_id}:request-1"
    action, subject, sequence, details = events(ledger)[-1]
    assert (action, subject, sequence) == ("entry.reverse", "entry", "2")
    assert details["reverses_sequence"] == 1
    assert [e[0] for e in events(ledger)] == ["entry.post", "entry.reverse"]


def test_a_second_reversal_under_another_key_is_refused_with_nothing_written(ledger):
    with_accounts(ledger)
    post(ledger, CONSOLE, "p-1")
    ledger.run(lambda s: books.reverse_entry(s, 1, origin=CONSOLE, clock=ledger.clock, key="r-1"))
    before = footprint(ledger)
    with pytest.raises(AlreadyReversedError):
        ledger.run(
            lambda s: books.reverse_entry(s, 1, origin=CONSOLE, clock=ledger.clock, key="r-2")
        )
    assert footprint(ledger) == before


# --------------------------------------------------------------------------- periods
def test_closing_a_month_twice_with_one_key_closes_it_once(ledger):
    def act(s: Session, key: str, period: str = "2026-03") -> Any:
        return books.close_period(s, period, origin=CONSOLE, clock=ledger.clock, key=key)

    first = assert_once(ledger, act, lambda s, key: act(s, key, "2026-04"))
    assert first.value.ends_on == date(2026, 3, 31) and first.value.warnings == ()
    assert events(ledger) == [("period.close", "period", "2026-03", {"ends_on": "2026-03-31"})]


def test_closing_a_closed_month_without_a_key_changes_and_audits_nothing(ledger):
    def act(s: Session) -> Any:
        return books.close_period(s, "2026-03", origin=CONSOLE, clock=ledger.clock)

    assert ledger.run(act).created is True
    before = footprint(ledger)
    again = ledger.run(act)
    assert again.created is False and again.value.ends_on == date(2026, 3, 31)
    assert footprint(ledger) == before
    with pytest.raises(InvalidPeriodError):
        ledger.run(lambda s: books.close_period(s, "2026-06", origin=CONSOLE, clock=ledger.clock))
    assert footprint(ledger) == before


# --------------------------------------------------------------------------- holds
def test_each_expired_hold_is_audited_once_and_a_second_run_writes_nothing(ledger, clock):
    with_accounts(ledger)
    post(ledger, CONSOLE, "p-1", "50.00")
    hold_ids = {
        ledger.hold(
            HoldSpec(
                f"h-{n}",
                "match_release",
                BANK,
                DONATIONS,
                Money.parse("5.00", "EUR"),
                expires_at=clock.now() + timedelta(minutes=30),
            )
        ).hold.id
        for n in (1, 2)
    }
    later = Ledger(ledger.engine, clock=FixedClock(clock.now() + timedelta(hours=1)))

    def expire(s: Session) -> Any:
        return books.expire_holds(s, origin=CONSOLE, clock=later.clock)

    first = later.run(expire)
    assert first.created is True and set(first.value) == hold_ids
    after = footprint(later)
    second = later.run(expire)
    assert (second.created, second.value) == (False, [])
    assert footprint(later) == after
    expired = [(e[1], e[2], e[3]) for e in events(later) if e[0] == "hold.expire"]
    assert sorted(expired) == sorted(("hold", hold_id, {}) for hold_id in hold_ids)


# --------------------------------------------------------------------------- demo
def test_loading_the_demo_twice_loads_and_audits_it_once(ledger, cheap_hashing):
    def load(s: Session) -> Any:
        return demo_commands.load_demo(s, origin=CONSOLE, clock=ledger.clock)

    assert ledger.run(load).created is True
    after = footprint(ledger)
    assert ledger.run(load).created is False
    assert footprint(ledger) == after
    # The bank month's acts (import, matching, ...) are audited before the demo's own event.
    assert [e[0] for e in events(ledger)][-1:] == ["demo.load"]
    assert [e[0] for e in events(ledger)].count("bank.import") == 1


def test_demo_users_next_to_real_ones_are_refused_with_nothing_written(ledger, cheap_hashing):
    treasurer(ledger)
    before = footprint(ledger)
    with pytest.raises(RealUsersPresentError):
        ledger.run(
            lambda s: demo_commands.load_demo(
                s, with_users=True, origin=CONSOLE, clock=ledger.clock
            )
        )
    assert footprint(ledger) == before


# --------------------------------------------------------------------------- concurrency
@pytest.mark.postgres_only
def test_concurrent_posts_with_one_key_post_one_entry_and_audit_it_once(pg_ledger: Ledger):
    ledger = with_accounts(pg_ledger)
    caller = treasurer(ledger)
    start = threading.Barrier(6)

    def one(_: int) -> bool:
        start.wait()
        return bool(post(ledger, caller, "once").created)

    with ThreadPoolExecutor(6) as pool:
        created = list(pool.map(one, range(6)))
    assert sorted(created) == [False] * 5 + [True]
    assert ledger.balance(BANK).posted == 2_500
    assert [e[0] for e in events(ledger)].count("entry.post") == 1
