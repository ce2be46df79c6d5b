"""One-time sign-in links (`ledger.people.session_commands`): issued once a minute at most,
signing in once, until they expire; each act audits once and a refusal writes nothing.

The link is the step-up the sign-in page offers past the per-account ceiling of
wrong passwords, so a stranger's guesses never lock the owner out.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.service import Ledger
from ledger.outbox.models import OutboxMessage
from ledger.people import links
from ledger.people import session_commands as sessions
from ledger.people.models import SignInLink, User
from tests.integration.commands_helpers import footprint
from tests.integration.test_people_commands import ANONYMOUS, anna, events

pytestmark = pytest.mark.usefixtures("cheap_hashing")

LIFETIME = timedelta(minutes=15)


def ask(ledger: Ledger, email: str = "anna.rossi@example.it") -> Any:
    return ledger.run(
        lambda s: sessions.issue_sign_in_link(
            s, email, lifetime=LIFETIME, origin=ANONYMOUS, clock=ledger.clock
        )
    )


def use(ledger: Ledger, link_id: int) -> Any:
    return ledger.run(
        lambda s: sessions.sign_in_with_link(s, link_id, origin=ANONYMOUS, clock=ledger.clock)
    )


def test_a_link_request_queues_one_message_naming_the_link_and_an_unknown_address_writes_nothing(
    ledger,
):
    user_id = anna(ledger)
    before = footprint(ledger)
    unknown = ask(ledger, "nobody@example.it")
    assert (unknown.value, unknown.created) == (None, False)
    assert footprint(ledger) == before

    link = ask(ledger, "ANNA.ROSSI@example.it").value
    assert link.user_id == user_id
    assert link.expires_at == ledger.clock.now() + LIFETIME
    messages = ledger.read(
        lambda s: [(m.kind, m.payload) for m in s.scalars(select(OutboxMessage))]
    )
    assert messages == [("sign_in_link", {"link_id": link.id})]
    assert events(ledger) == [("session.link_issue", "user", str(user_id), None, {"link": link.id})]


def test_an_inactive_user_is_sent_no_link(ledger):
    user_id = anna(ledger)

    def deactivate(s: Session) -> None:
        s.get(User, user_id).active = False

    ledger.run(deactivate)
    before = footprint(ledger)
    assert ask(ledger).value is None
    assert footprint(ledger) == before


def test_a_user_is_sent_at_most_one_new_link_a_minute(ledger, clock):
    anna(ledger)
    first = ask(ledger).value
    before = footprint(ledger)
    again = ask(ledger)
    assert (again.value, again.created) == (None, False)
    assert footprint(ledger) == before
    clock.instant += timedelta(seconds=61)
    second = ask(ledger).value
    assert second.id != first.id
    # Both work until used or expired: the owner may open either.
    assert use(ledger, first.id).value is not None


def test_a_link_signs_in_once_and_is_audited_as_the_users_sign_in(ledger):
    user_id = anna(ledger)
    link = ask(ledger).value
    signed = use(ledger, link.id)
    assert signed.value.id == user_id
    assert events(ledger)[-1] == ("session.login", None, None, user_id, {"link": link.id})

    before = footprint(ledger)
    again = use(ledger, link.id)
    assert (again.value, again.created) == (None, False)
    assert footprint(ledger) == before


def test_using_a_link_uses_up_every_other_unused_link_of_the_user(ledger, clock):
    anna(ledger)
    first = ask(ledger).value
    clock.instant += timedelta(minutes=2)
    second = ask(ledger).value
    assert use(ledger, second.id).value is not None
    assert use(ledger, first.id).value is None


def test_an_expired_link_or_one_of_a_deactivated_user_writes_nothing(ledger, clock):
    user_id = anna(ledger)
    expired = ask(ledger).value
    clock.instant += LIFETIME
    before = footprint(ledger)
    assert use(ledger, expired.id).value is None
    assert use(ledger, 999_999).value is None
    assert footprint(ledger) == before

    fresh = ask(ledger).value

    def deactivate(s: Session) -> None:
        s.get(User, user_id).active = False

    ledger.run(deactivate)
    before = footprint(ledger)
    assert use(ledger, fresh.id).value is None
    assert footprint(ledger) == before


def test_a_link_of_a_user_with_totp_is_only_the_first_step_and_audited_as_such(ledger):
    user_id = anna(ledger, roles=("treasurer",), secret="JBSWY3DPEHPK3PXP")
    link = ask(ledger).value
    assert use(ledger, link.id).value.totp_enrolled
    assert events(ledger)[-1] == (
        "session.link_used",
        "user",
        str(user_id),
        user_id,
        {"link": link.id},
    )
    assert "session.login" not in [event[0] for event in events(ledger)]


@pytest.mark.postgres_only
def test_one_link_used_by_two_requests_at_once_signs_in_only_one(pg_ledger):
    """Two transactions lock the link's row in turn: the second finds it used."""
    anna(pg_ledger)
    link_id = ask(pg_ledger).value.id
    first = pg_ledger.sessions()
    now = pg_ledger.clock.now()
    found = links.usable(first, link_id, now=now)
    assert found is not None
    links.use(first, found, now=now)
    results: list[bool] = []

    def second() -> None:
        results.append(pg_ledger.run(lambda s: links.usable(s, link_id, now=now) is not None))

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=1)
    assert thread.is_alive(), "the second request must wait for the first one's lock"
    first.commit()
    first.close()
    thread.join(timeout=10)
    assert results == [False]
    used = pg_ledger.read(lambda s: s.get(SignInLink, link_id).used_at)
    assert used is not None
