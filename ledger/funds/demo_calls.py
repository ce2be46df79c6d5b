"""Demo of a call for ideas like Brescia's "#genera_idee", loaded idempotently.

A microgrant fund receives EUR 9,500 from a foundation; a call with that
budget (at most EUR 2,000 per idea, grants only) is open around today. Four
citizens apply: two ideas are screened in and scored by a committee of two
(one reviewer declares a conflict on one idea), one idea is withdrawn, one is
not eligible. The best idea is awarded EUR 1,800 in two tranches, approved by
a second person; the first tranche is paid and its milestone reported. The
second idea is awarded EUR 1,500 in one payment, approved and not yet paid.

Everything goes through the domain services (calls, applications, reviews,
awards, the funds' reservations and payments), so the demo is exactly what the
pages would have written. Its people have no password (they cannot sign in);
when the demo users exist, the demo reviewer sits on the committee too. A
second run finds the call by its title and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.funds import service as funds
from ledger.funds.applications import (
    ApplicationDraft,
    create_application,
    screen_application,
    submit_application,
    withdraw_application,
)
from ledger.funds.awards import (
    TrancheSpec,
    approve_award,
    approve_tranche,
    pay_tranche,
    propose_award,
    report_milestone,
    tranches_of,
)
from ledger.funds.call_models import Call
from ledger.funds.calls import NewCall, add_reviewer, create_call, criteria_of, questions_of
from ledger.funds.reviews import declare_conflict, score_application
from ledger.people.service import NewPerson, create_user, find_user_by_email

DEMO_CALL_TITLE = "#genera_idee: idee dei cittadini per il quartiere"
DEMO_REVIEWER_EMAIL = "revisore@demo.registro.example"
# People of the call's story; no password, so nobody signs in as them.
DEMO_CALL_PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("segreteria.bando@demo.registro.example", "Segreteria del bando", "admin"),
    ("tesoreria.fondo@demo.registro.example", "Tesoreria del fondo", "treasurer"),
    ("commissaria.a@demo.registro.example", "Commissaria A", "reviewer"),
    ("commissario.b@demo.registro.example", "Commissario B", "reviewer"),
    ("anna.orto@demo.registro.example", "Anna Orti", "proponent"),
    ("bruno.bici@demo.registro.example", "Bruno Ruote", "proponent"),
    ("carla.libri@demo.registro.example", "Carla Pagine", "proponent"),
    ("dario.lucro@demo.registro.example", "Dario Affari", "proponent"),
)
DEMO_CALL_EMAILS = frozenset(email for email, _name, _role in DEMO_CALL_PEOPLE)


def _people(session: Session, clock: Clock) -> dict[str, int]:
    found: dict[str, int] = {}
    for email, name, role in DEMO_CALL_PEOPLE:
        user = find_user_by_email(session, email)
        if user is None:
            user = create_user(
                session,
                NewPerson(email=email, full_name=name),
                roles=[role],
                password=None,
                now=clock.now(),
                email_verified_at=clock.now(),  # made-up people: counted as confirmed
            )
        found[email.split("@", maxsplit=1)[0]] = user.id
    return found


def _seat_demo_reviewer(session: Session, call_id: int, clock: Clock) -> None:
    """The demo reviewer (when the demo users exist) sits on the call's committee."""
    demo_reviewer = find_user_by_email(session, DEMO_REVIEWER_EMAIL)
    if demo_reviewer is not None and "reviewer" in demo_reviewer.roles:
        add_reviewer(session, call_id, demo_reviewer.id, clock=clock)


def load_demo_calls(session: Session, clock: Clock) -> int:
    """Seed the demo call and its story in the caller's transaction; 1 if created, else 0."""
    existing = session.scalar(select(Call.id).where(Call.title == DEMO_CALL_TITLE))
    if existing is not None:
        _seat_demo_reviewer(session, existing, clock)
        return 0
    people = _people(session, clock)
    admin, treasurer = people["segreteria.bando"], people["tesoreria.fondo"]
    reviewers = [people["commissaria.a"], people["commissario.b"]]
    fund = funds.create_fund(
        session,
        name="Fondo microcontributi #genera_idee",
        kind="microgrant",
        clock=clock,
        actor="demo",
    )
    funds.deposit(
        session,
        fund.id,
        950_000,
        source="foundation_grant",
        key="demo-calls:foundation-grant",
        clock=clock,
        actor="demo",
        reference="Contributo della fondazione per #genera_idee",
    )
    now = clock.now()
    call = create_call(
        session,
        NewCall(
            fund_id=fund.id,
            title=DEMO_CALL_TITLE,
            description_md=(
                "Il bando finanzia con microcontributi le idee dei cittadini che "
                "migliorano la vita del quartiere: orti, riparazioni, letture, sport."
            ),
            budget_minor=950_000,
            max_award_minor=200_000,
            currency=fund.currency,
            opens_at=now - timedelta(days=20),
            closes_at=now + timedelta(days=10),
            award_kind="grant",
            questions=[
                ("L'idea si realizza nel territorio del Comune?", True),
                ("L'idea ha scopo di lucro?", False),
            ],
            criteria=[("Impatto sociale", 3), ("Fattibilità", 2), ("Originalità", 1)],
            reviewer_user_ids=reviewers,
        ),
        actor_user_id=admin,
        clock=clock,
    )
    _seat_demo_reviewer(session, call.id, clock)
    questions = [q.id for q in questions_of(session, call.id)]
    criteria = [c.id for c in criteria_of(session, call.id)]
    eligible = {questions[0]: True, questions[1]: False}

    def applied(who: str, title: str, summary: str, minor: int, answers: dict[int, bool]) -> int:
        application = create_application(
            session,
            call.id,
            ApplicationDraft(
                title=title,
                summary=summary,
                requested_minor=minor,
                kind="grant",
                answers=answers,
                public_name_consent=who == "anna.orto",
            ),
            proponent_user_id=people[who],
            clock=clock,
        )
        submit_application(session, application.id, proponent_user_id=people[who], clock=clock)
        return application.id

    orto = applied(
        "anna.orto",
        "Orto condiviso nel cortile della scuola",
        "Cassoni rialzati, attrezzi e dieci incontri con i bambini.",
        200_000,
        eligible,
    )
    bici = applied(
        "bruno.bici",
        "Ciclofficina di quartiere",
        "Riparazioni gratuite il sabato e un corso per ragazzi.",
        150_000,
        eligible,
    )
    libri = applied(
        "carla.libri",
        "Biblioteca di condominio",
        "Scaffali negli androni e scambio di libri.",
        60_000,
        eligible,
    )
    lucro = applied(
        "dario.lucro",
        "Bar sociale",
        "Un bar con prezzi popolari.",
        200_000,
        {questions[0]: True, questions[1]: True},
    )
    withdraw_application(session, libri, proponent_user_id=people["carla.libri"], clock=clock)
    for application_id in (orto, bici, lucro):
        screen_application(session, application_id, actor_user_id=admin, clock=clock)

    marks = {
        (orto, reviewers[0]): (9, 8, 7),
        (orto, reviewers[1]): (8, 9, 8),
        (bici, reviewers[0]): (8, 7, 6),
    }
    for (application_id, reviewer), scores in marks.items():
        declare_conflict(
            session, application_id, reviewer_user_id=reviewer, conflicted=False, clock=clock
        )
        score_application(
            session,
            application_id,
            reviewer_user_id=reviewer,
            scores=dict(zip(criteria, scores, strict=True)),
            comment="",
            clock=clock,
        )
    # Commissario B knows Bruno: a declared conflict, so no score from him.
    declare_conflict(session, bici, reviewer_user_id=reviewers[1], conflicted=True, clock=clock)

    grant = propose_award(
        session,
        orto,
        amount_minor=180_000,
        kind="grant",
        tranches=[
            TrancheSpec(100_000, "Acquisto di cassoni, semi e attrezzi"),
            TrancheSpec(80_000, "Corso con i bambini e relazione finale"),
        ],
        actor_user_id=admin,
        clock=clock,
    )
    approve_award(session, grant.id, actor_user_id=treasurer, clock=clock)
    first = tranches_of(session, grant.id)[0]
    approve_tranche(session, first.id, actor_user_id=admin, clock=clock)
    pay_tranche(session, first.id, actor_user_id=treasurer, clock=clock)
    report_milestone(
        session,
        first.id,
        proponent_user_id=people["anna.orto"],
        report="Cassoni montati e seminati; ricevute consegnate alla segreteria.",
        clock=clock,
    )
    second = propose_award(
        session, bici, amount_minor=150_000, kind="grant", actor_user_id=admin, clock=clock
    )
    approve_award(session, second.id, actor_user_id=treasurer, clock=clock)
    return 1
