"""The demo call for ideas: seeded through the domain, idempotent, and the books agree."""

from __future__ import annotations

from sqlalchemy import select

from ledger.core.verify import verify
from ledger.funds import service as funds
from ledger.funds.awards import live_award, tranches_of
from ledger.funds.call_models import Application, Call
from ledger.funds.demo_calls import DEMO_CALL_TITLE, load_demo_calls
from ledger.funds.reviews import ranking


def test_the_demo_call_is_seeded_once_with_scored_ideas_and_a_tranche_paid(ledger, clock):
    assert ledger.run(lambda s: load_demo_calls(s, clock)) == 1
    assert ledger.run(lambda s: load_demo_calls(s, clock)) == 0

    def read(session):  # type: ignore[no-untyped-def]
        call = session.scalars(select(Call).where(Call.title == DEMO_CALL_TITLE)).one()
        states = {
            a.title: a.status
            for a in session.scalars(select(Application).where(Application.call_id == call.id))
        }
        ranked = [
            (r.application.title, r.rank, str(r.shown_score)) for r in ranking(session, call.id)
        ]
        orto = next(r.application.id for r in ranking(session, call.id) if r.rank == 1)
        award = live_award(session, orto)
        paid = [
            (t.amount_minor, t.status, t.reported_at is not None)
            for t in tranches_of(session, award.id)
        ]
        return call, states, ranked, paid, funds.fund_position(session, call.fund_id)

    _call, states, ranked, paid, position = ledger.read(read)
    assert states == {
        "Orto condiviso nel cortile della scuola": "disbursing",
        "Ciclofficina di quartiere": "approved",
        "Biblioteca di condominio": "withdrawn",
        "Bar sociale": "screened_out",
    }
    # (3*9+2*8+7)/6 = 50/6 and (3*8+2*9+8)/6 = 50/6 -> 8.33; (3*8+2*7+6)/6 = 44/6 -> 7.33
    assert ranked == [
        ("Orto condiviso nel cortile della scuola", 1, "8.33"),
        ("Ciclofficina di quartiere", 2, "7.33"),
    ]
    assert paid == [(100_000, "paid", True), (80_000, "planned", False)]
    assert (position.cash_minor, position.committed_minor, position.grants_paid_minor) == (
        850_000,
        230_000,
        100_000,
    )
    assert position.available_minor == 620_000
    assert ledger.read(verify).ok


def test_the_demo_reviewer_joins_the_committee_when_the_demo_users_come_later(ledger, clock):
    from ledger.demo import DEMO_PASSWORD
    from ledger.funds.calls import committee
    from ledger.people.service import NewPerson, create_user

    ledger.run(lambda s: load_demo_calls(s, clock))

    def reviewer(session):  # type: ignore[no-untyped-def]
        return create_user(
            session,
            NewPerson(email="revisore@demo.registro.example", full_name="Revisore Demo"),
            roles=["reviewer"],
            password=DEMO_PASSWORD,
            now=clock.now(),
        ).id

    user_id = ledger.run(reviewer)
    assert ledger.run(lambda s: load_demo_calls(s, clock)) == 0
    call_id = ledger.read(
        lambda s: s.scalars(select(Call.id).where(Call.title == DEMO_CALL_TITLE)).one()
    )
    assert user_id in ledger.read(lambda s: committee(s, call_id))
