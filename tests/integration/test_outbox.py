"""The outbox: a message exists exactly when its transaction committed, and is sent once.

Senders here record what they were handed instead of sending e-mail. Every
test runs on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.clock import FixedClock
from ledger.core.errors import PersonalDataError
from ledger.core.service import Ledger
from ledger.outbox.models import OutboxMessage
from ledger.outbox.service import MAX_ATTEMPTS, dispatch_pending, enqueue


class Recorder:
    """A sender that remembers each message it was given (kind, payload)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, dict]] = []

    def __call__(self, session: Session, message: OutboxMessage) -> None:
        self.sent.append((message.id, message.kind, dict(message.payload)))


class Failing:
    """A sender whose mail server is down."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, session: Session, message: OutboxMessage) -> None:
        self.calls += 1
        raise ConnectionRefusedError("smtp.example.it:587 refused the connection")


def queue(ledger: Ledger, kind: str, **payload: object) -> int:
    return ledger.run(lambda s: enqueue(s, kind, payload, now=ledger.clock.now()).id)


FIELDS = ("id", "kind", "payload", "created_at", "sent_at", "attempts", "last_error")


def messages(ledger: Ledger) -> list[SimpleNamespace]:
    """Every message as plain values (the read-only session expires its objects)."""

    def read(session: Session) -> list[SimpleNamespace]:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [SimpleNamespace(**{f: getattr(m, f) for f in FIELDS}) for m in rows]

    return ledger.read(read)


def test_a_queued_message_is_sent_once_and_a_second_dispatch_sends_nothing(ledger, clock):
    first = queue(ledger, "password_reset", user_id=7)
    second = queue(ledger, "welcome", user_id=8)
    sender = Recorder()
    clock.instant += timedelta(seconds=5)

    assert dispatch_pending(ledger.sessions, sender, clock) == (2, 0)
    assert dispatch_pending(ledger.sessions, sender, clock) == (0, 0)

    assert sender.sent == [
        (first, "password_reset", {"user_id": 7}),
        (second, "welcome", {"user_id": 8}),
    ]
    for message in messages(ledger):
        assert message.sent_at == clock.now()
        assert message.attempts == 1 and message.last_error is None


def test_a_message_queued_in_a_transaction_that_rolls_back_is_never_sent(ledger, clock):
    def refused(session: Session) -> None:
        enqueue(session, "welcome", {"user_id": 1}, now=clock.now())
        raise RuntimeError("the change that called for the e-mail failed")

    with pytest.raises(RuntimeError):
        ledger.run(refused)
    assert messages(ledger) == []
    assert dispatch_pending(ledger.sessions, Recorder(), clock) == (0, 0)


def test_a_failing_sender_leaves_the_message_pending_with_its_error_and_one_more_attempt(
    ledger, clock
):
    queue(ledger, "password_reset", user_id=7)
    failing = Failing()

    assert dispatch_pending(ledger.sessions, failing, clock) == (0, 1)

    assert failing.calls == 1
    [message] = messages(ledger)
    assert message.sent_at is None
    assert message.attempts == 1
    assert message.last_error == (
        "ConnectionRefusedError: smtp.example.it:587 refused the connection"
    )


def test_a_message_that_failed_is_sent_by_a_later_dispatch_and_its_error_cleared(ledger, clock):
    queue(ledger, "password_reset", user_id=7)
    dispatch_pending(ledger.sessions, Failing(), clock)
    dispatch_pending(ledger.sessions, Failing(), clock)
    sender = Recorder()

    assert dispatch_pending(ledger.sessions, sender, clock) == (1, 0)

    [message] = messages(ledger)
    assert len(sender.sent) == 1
    assert message.sent_at is not None
    assert message.attempts == 3 and message.last_error is None


def test_one_failing_message_does_not_hold_back_the_others(ledger, clock):
    broken = queue(ledger, "password_reset", user_id=7)
    fine = queue(ledger, "welcome", user_id=8)

    def sender(session: Session, message: OutboxMessage) -> None:
        if message.id == broken:
            raise ValueError("no template for this locale")

    assert dispatch_pending(ledger.sessions, sender, clock) == (1, 1)
    by_id = {m.id: m for m in messages(ledger)}
    assert by_id[broken].sent_at is None and by_id[broken].attempts == 1
    assert by_id[fine].sent_at is not None


def test_a_message_is_given_up_after_the_maximum_number_of_attempts(ledger, clock):
    queue(ledger, "password_reset", user_id=7)
    failing = Failing()
    for _ in range(MAX_ATTEMPTS + 2):
        dispatch_pending(ledger.sessions, failing, clock)
    assert failing.calls == MAX_ATTEMPTS
    [message] = messages(ledger)
    assert message.attempts == MAX_ATTEMPTS and message.sent_at is None
    assert dispatch_pending(ledger.sessions, Recorder(), clock) == (0, 0)


def test_dispatch_sends_at_most_the_limit_per_call(ledger, clock):
    for user_id in range(5):
        queue(ledger, "welcome", user_id=user_id)
    sender = Recorder()
    assert dispatch_pending(ledger.sessions, sender, clock, limit=3) == (3, 0)
    assert dispatch_pending(ledger.sessions, sender, clock, limit=3) == (2, 0)
    assert [payload["user_id"] for _id, _kind, payload in sender.sent] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "payload",
    [{"email": "x"}, {"to": "anna.rossi@example.it"}, {"note": "CF RSSMRA85T10A562S"}],
    ids=["key", "address", "codice-fiscale"],
)
def test_a_payload_carrying_personal_data_is_refused_and_nothing_is_queued(ledger, clock, payload):
    with pytest.raises(PersonalDataError):
        ledger.run(lambda s: enqueue(s, "welcome", payload, now=clock.now()))
    count = ledger.read(lambda s: s.scalar(select(func.count()).select_from(OutboxMessage)))
    assert count == 0


def test_a_message_is_sent_with_the_clock_of_the_dispatcher(ledger):
    queue(ledger, "welcome", user_id=1)
    later = FixedClock(ledger.clock.now() + timedelta(hours=1))
    dispatch_pending(ledger.sessions, Recorder(), later)
    [message] = messages(ledger)
    assert message.created_at == ledger.clock.now()
    assert message.sent_at == later.now()


def test_delivery_runs_after_the_claim_committed_outside_any_transaction(ledger, clock):
    """While the outside world is being talked to, the database already shows the
    message claimed (another connection can read it), so no lock is held on it."""
    queue(ledger, "password_reset", user_id=7)
    seen: list[SimpleNamespace] = []

    def sender(session: Session, message: OutboxMessage):  # type: ignore[no-untyped-def]
        return lambda: seen.extend(messages(ledger))

    assert dispatch_pending(ledger.sessions, sender, clock) == (1, 0)
    [during] = seen
    assert during.attempts == 1 and during.sent_at is None
    [after] = messages(ledger)
    assert after.sent_at == clock.now()


def test_a_failed_delivery_keeps_its_error_without_the_recipients_address(ledger, clock):
    queue(ledger, "password_reset", user_id=7)

    def sender(session: Session, message: OutboxMessage):  # type: ignore[no-untyped-def]
        def deliver() -> None:
            raise OSError("550 mailbox anna.rossi@example.org unavailable")

        return deliver

    assert dispatch_pending(ledger.sessions, sender, clock) == (0, 1)
    [message] = messages(ledger)
    assert message.sent_at is None
    assert message.last_error == "OSError: 550 mailbox <address> unavailable"
    assert dispatch_pending(ledger.sessions, Recorder(), clock) == (1, 0)


def test_a_message_leased_by_a_dispatcher_is_skipped_by_another_until_the_lease_ends(ledger, clock):
    queue(ledger, "password_reset", user_id=7)
    nested: list[tuple[int, int]] = []

    def sender(session: Session, message: OutboxMessage):  # type: ignore[no-untyped-def]
        # A second dispatcher starts while the first is still delivering.
        return lambda: nested.append(dispatch_pending(ledger.sessions, Recorder(), clock))

    assert dispatch_pending(ledger.sessions, sender, clock) == (1, 0)
    assert nested == [(0, 0)]


def test_a_lease_left_by_a_dispatcher_that_died_runs_out_and_the_message_is_sent(ledger, clock):
    queue(ledger, "password_reset", user_id=7)

    def dies(session: Session, message: OutboxMessage):  # type: ignore[no-untyped-def]
        def deliver() -> None:
            raise SystemExit  # not an Exception: the dispatcher goes away mid-send

        return deliver

    with pytest.raises(SystemExit):
        dispatch_pending(ledger.sessions, dies, clock)
    assert dispatch_pending(ledger.sessions, Recorder(), clock) == (0, 0)
    later = FixedClock(clock.now() + timedelta(minutes=6))
    assert dispatch_pending(ledger.sessions, Recorder(), later) == (1, 0)
