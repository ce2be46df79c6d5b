"""A proponent applies to a call for ideas on a phone and, later, sees the decision.

The call, its fund and its committee are made through the domain on the live
server's database; the proponent does everything else in chromium at 360 CSS
pixels, by the labels the pages show: find the call, write the idea, answer the
eligibility question, save the draft, submit it. The committee and the staff
then act (through the same services the pages use), and the proponent's page
shows the decision and the tranches. No page may scroll sideways or break its
Content-Security-Policy.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import SystemClock
from ledger.funds import service as funds
from ledger.funds.applications import (
    ApplicationDraft,
    create_application,
    screen_application,
    submit_application,
)
from ledger.funds.awards import TrancheSpec, approve_award, propose_award
from ledger.funds.call_models import Application
from ledger.funds.calls import NewCall, add_reviewer, create_call, criteria_of, questions_of
from ledger.funds.reviews import declare_conflict, score_application
from ledger.people.service import NewPerson, create_user, find_user_by_email
from tests.browser.conftest import PHONE, LiveServer
from tests.browser.flows import at, sign_in, switch_language
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    watch_console,
)

QUESTION = "L'idea si realizza nel quartiere?"


def open_call(live_server: LiveServer) -> tuple[int, str, dict[str, int]]:
    """A fund with money and a call open now; returns (call id, title, staff ids)."""
    clock = SystemClock()
    title = f"Idee per il quartiere {uuid.uuid4().hex[:6]}"

    def work(session: Session) -> tuple[int, dict[str, int]]:
        now = clock.now()
        staff = {}
        for role in ("admin", "treasurer", "reviewer"):
            user = create_user(
                session,
                NewPerson(email=f"{role}-{uuid.uuid4().hex[:8]}@esempio.it", full_name=role),
                roles=[role],
                password=None,
                now=now,
            )
            staff[role] = user.id
        fund = funds.create_fund(session, name="Fondo di quartiere", kind="microgrant", clock=clock)
        funds.deposit(
            session,
            fund.id,
            500_000,
            source="donation",
            key=f"browser-{uuid.uuid4().hex}",
            clock=clock,
        )
        call = create_call(
            session,
            NewCall(
                fund_id=fund.id,
                title=title,
                description_md="Piccoli contributi per idee di quartiere.",
                budget_minor=500_000,
                max_award_minor=200_000,
                currency="EUR",
                opens_at=now - timedelta(days=1),
                closes_at=now + timedelta(days=10),
                award_kind="grant",
                questions=[(QUESTION, True)],
                criteria=[("Impatto", 2), ("Fattibilità", 1)],
                reviewer_user_ids=[staff["reviewer"]],
            ),
            actor_user_id=staff["admin"],
            clock=clock,
        )
        return call.id, staff

    call_id, staff = live_server.books.run(work)
    return call_id, title, staff


def decide(live_server: LiveServer, call_id: int, staff: dict[str, int]) -> None:
    """The staff screens, the committee scores, one proposes and another approves."""
    clock = SystemClock()

    def work(session: Session) -> None:
        application = session.scalars(
            select(Application).where(Application.call_id == call_id)
        ).one()
        screen_application(session, application.id, actor_user_id=staff["admin"], clock=clock)
        declare_conflict(
            session,
            application.id,
            reviewer_user_id=staff["reviewer"],
            conflicted=False,
            clock=clock,
        )
        score_application(
            session,
            application.id,
            reviewer_user_id=staff["reviewer"],
            scores={c.id: 8 for c in criteria_of(session, call_id)},
            comment="",
            clock=clock,
        )
        award = propose_award(
            session,
            application.id,
            amount_minor=150_000,
            kind="grant",
            tranches=[TrancheSpec(100_000, "Materiali"), TrancheSpec(50_000, "Festa finale")],
            actor_user_id=staff["admin"],
            clock=clock,
        )
        approve_award(session, award.id, actor_user_id=staff["treasurer"], clock=clock)

    live_server.books.run(work)


def test_a_proponent_applies_to_a_call_on_a_phone_and_sees_the_decision(
    phone_page: Page, live_server: LiveServer, axe_source: str
) -> None:
    page = phone_page
    call_id, title, staff = open_call(live_server)
    proponent = live_server.create_user(["proponent"], name="Marta Verdi")
    sign_in(page, proponent)

    page.goto("/bandi")
    page.get_by_role("link", name=title).click()
    expect(page).to_have_url(at(f"/bandi/{call_id}"))
    assert_fits_width(page, PHONE["width"])
    assert_accessible(page, axe_source)
    page.get_by_role("link", name="Presenta un'idea").click()
    expect(page).to_have_url(at(f"/bandi/{call_id}/candidatura"))

    page.get_by_label("Titolo dell'idea").fill("Panchine dipinte in piazza")
    page.get_by_label("Descrizione dell'idea").fill("Dieci panchine dipinte dai ragazzi.")
    page.get_by_label("Importo richiesto").fill("1.800,00")
    page.get_by_role("group", name=QUESTION).get_by_label("sì").check()
    consent = page.get_by_label(
        "Acconsento a mostrare il mio nome nell'elenco pubblico delle idee finanziate"
    )
    expect(consent).not_to_be_checked()
    assert_fits_width(page, PHONE["width"])
    assert_accessible(page, axe_source)
    page.get_by_role("button", name="Salva la bozza").click()

    expect(page.locator("#application-status")).to_have_text("bozza")
    page.get_by_role("button", name="Invia la candidatura").click()
    expect(page.locator("#application-status")).to_have_text("inviata")
    detail = page.url

    decide(live_server, call_id, staff)

    page.goto(detail)
    expect(page.locator("#application-status")).to_have_text("contributo approvato")
    expect(page.locator("#decision-text")).to_have_text(
        "La tua idea è finanziata con 1.500,00 EUR (contributo a fondo perduto)."
    )
    expect(page.get_by_role("table", name="Tranche e tappe")).to_contain_text("1.000,00 EUR")
    assert_fits_width(page, PHONE["width"])
    assert_accessible(page, axe_source)
    assert_no_csp_violations(page)

    # The public list shows the idea, without the proponent's name (no consent given).
    page.goto(f"/bandi/{call_id}")
    financed = page.get_by_role("region", name="Idee finanziate")
    expect(financed).to_contain_text("Panchine dipinte in piazza")
    expect(financed).not_to_contain_text("Marta Verdi")


def test_the_committee_and_staff_pages_are_accessible_and_fit_a_phone_in_both_languages(
    new_context: Any, live_server: LiveServer, axe_source: str
) -> None:
    call_id, _title, staff = open_call(live_server)
    reviewer = live_server.create_user(["reviewer"], name="Rita Giudici")
    admin = live_server.create_user(["admin"], name="Alba Sindaci", with_totp=True)
    clock = SystemClock()

    def prepare(session: Session) -> int:
        proponent = create_user(
            session,
            NewPerson(email=f"p-{uuid.uuid4().hex[:8]}@esempio.it", full_name="Pia Idee"),
            roles=["proponent"],
            password=None,
            now=clock.now(),
        )
        application = create_application(
            session,
            call_id,
            ApplicationDraft(
                title="Bookcrossing alla fermata",
                summary="Una casetta per scambiarsi libri.",
                requested_minor=40_000,
                kind="grant",
                answers={questions_of(session, call_id)[0].id: True},
            ),
            proponent_user_id=proponent.id,
            clock=clock,
        )
        submit_application(session, application.id, proponent_user_id=proponent.id, clock=clock)
        screen_application(session, application.id, actor_user_id=staff["admin"], clock=clock)
        member = find_user_by_email(session, reviewer.email)
        assert member is not None
        add_reviewer(session, call_id, member.id, clock=clock)
        return application.id

    application_id = live_server.books.run(prepare)
    visits = {
        "reviewer": [
            ("/valutazione", "Bookcrossing alla fermata"),
            (f"/valutazione/candidature/{application_id}", "Conflitto di interessi"),
        ],
        "admin": [
            ("/gestione/bandi", "Nuovo bando"),
            (f"/gestione/bandi/{call_id}", "Graduatoria"),
            (f"/gestione/candidature/{application_id}", "Proponi un contributo"),
            ("/gestione/bandi/nuovo", "Griglia di valutazione"),
        ],
    }
    english = {
        "Bookcrossing alla fermata": "Bookcrossing alla fermata",
        "Conflitto di interessi": "Conflict of interest",
        "Nuovo bando": "New call",
        "Graduatoria": "Ranking",
        "Proponi un contributo": "Propose an award",
        "Griglia di valutazione": "Scoring rubric",
    }
    for who, user in (("reviewer", reviewer), ("admin", admin)):
        page = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
        watch_console(page)
        sign_in(page, user)
        for language in ("it", "en"):
            if language == "en":
                switch_language(page, "en")
            for path, text in visits[who]:
                page.goto(path)
                expect(page).to_have_url(at(path))
                shown = text if language == "it" else english[text]
                expect(page.locator("main")).to_contain_text(shown)
                assert_fits_width(page, PHONE["width"])
                assert_accessible(page, axe_source)
        assert_no_csp_violations(page)
