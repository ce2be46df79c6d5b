"""Pages of calls for ideas: apply, submit, withdraw, review, award with four eyes, tranches.

The world (people, a fund with money, a call open 1-30 June 2026) is built by
the real services; the tests then act through the pages as each person would,
with CSRF tokens and, for money, a confirmed TOTP code.
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from ledger.funds import service as funds
from ledger.funds.applications import get_application
from ledger.funds.awards import live_award, tranches_of
from ledger.funds.call_models import Application, ApplicationEvent
from ledger.people import totp
from ledger.people.models import User
from ledger.people.service import set_password, set_roles
from tests.integration.calls_world import CLOSES, World, apply, build_world
from tests.web.conftest import PASSWORD, csrf_token, form_post, sign_in, totp_code


@pytest.fixture
def world(ledger, clock) -> World:  # type: ignore[no-untyped-def]
    return build_world(ledger, clock)


def can_sign_in(world: World, user_id: int, *, two_factor: bool = False) -> tuple[str, str | None]:
    """Give the user a password (and TOTP); returns (e-mail, secret)."""
    secret = totp.new_secret() if two_factor else None

    def work(session):  # type: ignore[no-untyped-def]
        user = session.get(User, user_id)
        set_password(user, PASSWORD, now=world.clock.now())
        if secret:
            user.totp_secret_sealed = world.ledger.require_secret_box().seal(secret)
            user.totp_enrolled_at = world.clock.now()
        return user.person.email

    return world.run(work), secret


def signed(app, world: World, user_id: int, *, two_factor: bool = False) -> FlaskClient:  # type: ignore[no-untyped-def]
    email, secret = can_sign_in(world, user_id, two_factor=two_factor)
    client = app.test_client()
    code = totp_code(world.ledger, secret) if secret else None
    response = sign_in(client, email, code=code)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post_action(client: FlaskClient, page: str, action: str, data: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    html = client.get(page).get_data(as_text=True)
    return client.post(action, data={"csrf_token": csrf_token(html), **(data or {})})


def status_of(world: World, application_id: int) -> str:
    return str(world.run(lambda s: get_application(s, application_id).status))


def test_a_proponent_applies_through_the_pages_submits_and_sees_the_decision(app, world):
    client = signed(app, world, world.proponents[0])
    page = client.get(f"/bandi/{world.call_id}").get_data(as_text=True)
    assert "Presenta un&#39;idea" in page or "Presenta un'idea" in page
    response = form_post(
        client,
        f"/bandi/{world.call_id}/candidatura",
        {
            "title": "Ciclofficina di quartiere",
            "summary": "Riparazioni gratuite il sabato.",
            "requested": "1.500,00",
            "kind": "grant",
            f"answer_{world.questions[0]}": "yes",
            f"answer_{world.questions[1]}": "no",
        },
    )
    assert response.status_code == 303
    detail = response.headers["Location"]
    application_id = int(detail.rsplit("/", 1)[1])
    found = world.run(lambda s: get_application(s, application_id))
    assert (found.status, found.requested_minor, found.public_name_consent) == (
        "draft",
        150_000,
        False,
    )
    response = post_action(client, detail, f"{detail}/invia")
    assert response.status_code == 303
    assert status_of(world, application_id) == "submitted"
    html = client.get(detail).get_data(as_text=True)
    assert "inviata" in html


def test_submitting_after_the_call_closes_is_refused_on_the_page_and_keeps_the_draft(app, world):
    application_id = apply(world, world.proponents[0], submit=False)
    client = signed(app, world, world.proponents[0])
    page = f"/account/candidature/{application_id}"
    token = csrf_token(client.get(page).get_data(as_text=True))
    world.clock.instant = CLOSES
    response = client.post(f"{page}/invia", data={"csrf_token": token})
    assert response.status_code == 409
    assert "non è aperto" in response.get_data(as_text=True)
    assert status_of(world, application_id) == "draft"
    events = world.run(
        lambda s: len(
            list(
                s.scalars(
                    select(ApplicationEvent).where(
                        ApplicationEvent.application_id == application_id
                    )
                )
            )
        )
    )
    assert events == 1


def test_a_proponent_sees_only_their_own_applications(app, world):
    theirs = apply(world, world.proponents[1], title="Idea di Bruno")
    client = signed(app, world, world.proponents[0])
    assert client.get(f"/account/candidature/{theirs}").status_code == 404
    assert "Idea di Bruno" not in client.get("/account/candidature").get_data(as_text=True)
    token = csrf_token(client.get("/account/candidature").get_data(as_text=True))
    assert (
        client.post(f"/account/candidature/{theirs}/ritira", data={"csrf_token": token}).status_code
        == 404
    )
    assert status_of(world, theirs) == "submitted"


def test_a_form_without_its_csrf_token_is_refused(app, world):
    application_id = apply(world, world.proponents[0], submit=False)
    client = signed(app, world, world.proponents[0])
    response = client.post(f"/account/candidature/{application_id}/invia")
    assert response.status_code == 400
    assert status_of(world, application_id) == "draft"


def screened(world: World, application_id: int) -> None:
    from ledger.funds.applications import screen_application

    world.run(
        lambda s: screen_application(
            s, application_id, actor_user_id=world.admin, clock=world.clock
        )
    )


def test_a_conflicted_reviewer_declares_and_is_refused_when_scoring(app, world):
    application_id = apply(world, world.proponents[0])
    screened(world, application_id)
    reviewer = signed(app, world, world.reviewers[0])
    page = f"/valutazione/candidature/{application_id}"
    assert "Orto condiviso" in reviewer.get("/valutazione").get_data(as_text=True)
    response = post_action(reviewer, page, f"{page}/conflitto", {"conflicted": "yes"})
    assert response.status_code == 303
    html = reviewer.get(page).get_data(as_text=True)
    assert "Hai dichiarato un conflitto di interessi" in html
    scores = {f"score_{c}": "9" for c in world.criteria}
    response = reviewer.post(page, data={"csrf_token": csrf_token(html), **scores})
    assert response.status_code == 409
    assert "conflitto di interessi" in response.get_data(as_text=True)
    ranking = world.run(
        lambda s: __import__("ledger.funds.reviews", fromlist=["x"]).ranking(s, world.call_id)
    )
    assert [(r.reviews, r.conflicts) for r in ranking] == [(0, 1)]


def test_a_reviewer_who_applied_cannot_declare_no_conflict_nor_score_their_own_idea(app, world):
    member = world.reviewers[0]
    world.run(lambda s: set_roles(s.get(User, member), ["reviewer", "proponent"]))
    application_id = apply(world, member, title="La mia idea")
    screened(world, application_id)
    reviewer = signed(app, world, member)
    page = f"/valutazione/candidature/{application_id}"

    response = post_action(reviewer, page, f"{page}/conflitto", {"conflicted": "no"})
    assert response.status_code == 409
    assert "Sei il proponente di questa candidatura" in response.get_data(as_text=True)
    html = reviewer.get(page).get_data(as_text=True)
    scores = {f"score_{c}": "10" for c in world.criteria}
    response = reviewer.post(page, data={"csrf_token": csrf_token(html), **scores})
    assert response.status_code == 409
    assert "Sei il proponente di questa candidatura" in response.get_data(as_text=True)
    ranking = world.run(
        lambda s: __import__("ledger.funds.reviews", fromlist=["x"]).ranking(s, world.call_id)
    )
    assert [(r.reviews, r.conflicts) for r in ranking] == [(0, 0)]
    assert post_action(reviewer, page, f"{page}/conflitto", {"conflicted": "yes"}).status_code == (
        303
    )


def test_a_reviewer_off_the_committee_cannot_open_the_application(app, world):
    application_id = apply(world, world.proponents[0])
    screened(world, application_id)
    outsider = signed(app, world, world.outsider_reviewer)
    assert outsider.get(f"/valutazione/candidature/{application_id}").status_code == 404


def scored_by_both(app, world: World, application_id: int) -> None:  # type: ignore[no-untyped-def]
    for index, reviewer_id in enumerate(world.reviewers):
        reviewer = signed(app, world, reviewer_id)
        page = f"/valutazione/candidature/{application_id}"
        assert (
            post_action(reviewer, page, f"{page}/conflitto", {"conflicted": "no"}).status_code
            == 303
        )
        marks = {f"score_{c}": str(8 - index) for c in world.criteria}
        assert post_action(reviewer, page, page, marks).status_code == 303


def test_four_eyes_on_the_award_and_on_each_tranche_through_the_pages(app, world):
    application_id = apply(world, world.proponents[0], consent=True)
    screened(world, application_id)
    scored_by_both(app, world, application_id)
    admin = signed(app, world, world.admin, two_factor=True)
    treasurer = signed(app, world, world.treasurer, two_factor=True)
    page = f"/gestione/candidature/{application_id}"
    html = admin.get(f"/gestione/bandi/{world.call_id}").get_data(as_text=True)
    assert "7,50" in html or "7.50" in html  # mean of 8 and 7
    response = post_action(
        admin,
        page,
        f"{page}/proposta",
        {"amount": "1800,00", "kind": "grant", "tranches": "1000,00 | Attrezzi\n800,00 | Apertura"},
    )
    assert response.status_code == 303
    award = world.run(lambda s: live_award(s, application_id))
    response = post_action(admin, page, f"/gestione/contributi/{award.id}/approva")
    assert response.status_code == 409
    assert "seconda persona" in response.get_data(as_text=True)
    assert status_of(world, application_id) == "awarded"
    response = post_action(treasurer, page, f"/gestione/contributi/{award.id}/approva")
    assert response.status_code == 303
    assert status_of(world, application_id) == "approved"
    first, second = world.run(lambda s: [t.id for t in tranches_of(s, award.id)])
    assert post_action(admin, page, f"/gestione/tranche/{first}/approva").status_code == 303
    response = post_action(admin, page, f"/gestione/tranche/{first}/paga")
    assert response.status_code == 409
    assert post_action(treasurer, page, f"/gestione/tranche/{first}/paga").status_code == 303
    response = post_action(admin, page, f"/gestione/tranche/{second}/approva")
    assert response.status_code == 409
    assert "relazione" in response.get_data(as_text=True)
    position = world.run(lambda s: funds.fund_position(s, world.fund_id))
    assert (position.cash_minor, position.committed_minor, position.grants_paid_minor) == (
        1_400_000,
        80_000,
        100_000,
    )
    # The proponent reports; then the second tranche goes through.
    proponent = signed(app, world, world.proponents[0])
    report_page = f"/account/candidature/{application_id}/tranche/{first}/relazione"
    response = form_post(
        proponent, report_page, {"report": "Attrezzi comprati, ricevute allegate."}
    )
    assert response.status_code == 303
    assert post_action(admin, page, f"/gestione/tranche/{second}/approva").status_code == 303
    assert post_action(treasurer, page, f"/gestione/tranche/{second}/paga").status_code == 303
    html = proponent.get(f"/account/candidature/{application_id}").get_data(as_text=True)
    assert "1.800,00 EUR" in html and "in erogazione" in html
    # The public sees the financed idea and, with the consent given, the proponent's name.
    public = app.test_client().get(f"/bandi/{world.call_id}").get_data(as_text=True)
    assert "Orto condiviso" in public and "Proponente1" in public


def test_the_public_sees_a_financed_idea_without_the_name_when_no_consent_was_given(app, world):
    from ledger.funds.awards import approve_award, propose_award

    application_id = apply(world, world.proponents[0], consent=False)
    screened(world, application_id)

    def award(session):  # type: ignore[no-untyped-def]
        found = propose_award(
            session,
            application_id,
            amount_minor=100_000,
            kind="grant",
            actor_user_id=world.admin,
            clock=world.clock,
        )
        approve_award(session, found.id, actor_user_id=world.treasurer, clock=world.clock)

    world.run(award)
    html = app.test_client().get(f"/bandi/{world.call_id}").get_data(as_text=True)
    assert "Orto condiviso" in html and "1.000,00 EUR" in html
    assert "Proponente1" not in html and "proponente1@example.org" not in html
    assert "proponente non indicato" in html


def test_moving_money_needs_a_confirmed_code(app, world):
    can_sign_in(world, world.treasurer, two_factor=True)
    client = app.test_client()
    response = form_post(client, "/login", {"email": "tesoriera@example.org", "password": PASSWORD})
    assert "/login/2fa" in response.headers["Location"]
    # Without the second step the treasurer is not signed in at all.
    response = client.post("/gestione/tranche/1/paga", data={})
    assert response.status_code in (302, 400)
    assert "/gestione" not in response.headers.get("Location", "/login")


def test_an_admin_creates_a_call_through_the_page(app, world):
    admin = signed(app, world, world.admin, two_factor=True)
    response = form_post(
        admin,
        "/gestione/bandi/nuovo",
        {
            "fund": str(world.fund_id),
            "title": "Idee per l'estate",
            "description": "",
            "budget": "5.000,00",
            "max_award": "1.000,00",
            "opens_at": "2026-06-20T09:00",
            "closes_at": "2026-07-20T18:00",
            "award_kind": "grant",
            "loan_product": "",
            "questions": "Abiti nel quartiere? | sì",
            "criteria": "Impatto | 2\nCosti | 1",
            "reviewers": [str(r) for r in world.reviewers],  # type: ignore[dict-item]
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    call_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = app.test_client().get(f"/bandi/{call_id}").get_data(as_text=True)
    # 09:00 in Rome is shown as typed; the window is stored as an aware instant.
    assert "20/06/2026 09:00" in page and "5.000,00 EUR" in page
    assert "Abiti nel quartiere?" in page


def test_the_pages_are_in_english_on_request(app, world):
    client = app.test_client()
    html = client.get("/bandi").get_data(as_text=True)
    token = csrf_token(html)
    client.post("/language?next=/bandi", data={"csrf_token": token, "lang": "en"})
    html = client.get(f"/bandi/{world.call_id}").get_data(as_text=True)
    assert "Financed ideas" in html
    assert re.search(r"9,500\.00 EUR", html)


def test_an_application_is_never_visible_to_the_public_before_it_is_financed(app, world):
    apply(world, world.proponents[0], title="Idea riservata")
    html = app.test_client().get(f"/bandi/{world.call_id}").get_data(as_text=True)
    assert "Idea riservata" not in html
    assert world.run(lambda s: len(list(s.scalars(select(Application))))) == 1


def test_a_draft_is_changed_then_withdrawn_by_its_proponent(app, world):
    application_id = apply(world, world.proponents[0], submit=False)
    client = signed(app, world, world.proponents[0])
    page = f"/account/candidature/{application_id}/modifica"
    response = form_post(
        client,
        page,
        {
            "title": "Orto condiviso e compostiera",
            "summary": "Con una compostiera di quartiere.",
            "requested": "2.100,00",
            "kind": "grant",
            f"answer_{world.questions[0]}": "yes",
            f"answer_{world.questions[1]}": "no",
        },
    )
    # Above the call's maximum (3.000,00 is allowed; 2.100,00 is within): saved.
    assert response.status_code == 303
    found = world.run(lambda s: get_application(s, application_id))
    assert (found.title, found.requested_minor) == ("Orto condiviso e compostiera", 210_000)
    too_much = form_post(
        client,
        page,
        {"title": "x", "summary": "y", "requested": "3.000,01", "kind": "grant"},
    )
    assert too_much.status_code == 422
    assert world.run(lambda s: get_application(s, application_id)).requested_minor == 210_000
    detail = f"/account/candidature/{application_id}"
    assert post_action(client, detail, f"{detail}/ritira").status_code == 303
    assert status_of(world, application_id) == "withdrawn"
    assert client.get(page).status_code == 200  # the page shows; a POST is refused
    refused = form_post(
        client, page, {"title": "z", "summary": "z", "requested": "10,00", "kind": "grant"}
    )
    assert refused.status_code == 409


def test_staff_screen_reject_and_refuse_a_proposal_through_the_pages(app, world):
    eligible = apply(world, world.proponents[0])
    rejected = apply(world, world.proponents[1], title="Idea respinta")
    admin = signed(app, world, world.admin, two_factor=True)
    treasurer = signed(app, world, world.treasurer, two_factor=True)
    for application_id in (eligible, rejected):
        page = f"/gestione/candidature/{application_id}"
        assert post_action(admin, page, f"{page}/verifica").status_code == 303
        assert status_of(world, application_id) == "in_review"
    page = f"/gestione/candidature/{rejected}"
    assert post_action(admin, page, f"{page}/respingi", {"note": "Fuori tema"}).status_code == 303
    assert status_of(world, rejected) == "rejected"
    # A second screening is refused with the page's explanation, nothing changes.
    response = post_action(admin, page, f"{page}/verifica")
    assert response.status_code == 409
    page = f"/gestione/candidature/{eligible}"
    response = post_action(
        admin, page, f"{page}/proposta", {"amount": "3.500,00", "kind": "grant", "tranches": ""}
    )
    assert response.status_code == 422
    assert status_of(world, eligible) == "in_review"
    assert (
        post_action(
            admin, page, f"{page}/proposta", {"amount": "900,00", "kind": "grant"}
        ).status_code
        == 303
    )
    award = world.run(lambda s: live_award(s, eligible))
    assert (
        post_action(treasurer, page, f"/gestione/contributi/{award.id}/rifiuta").status_code == 303
    )
    assert status_of(world, eligible) == "in_review"
    html = treasurer.get(page).get_data(as_text=True)
    assert "proposta non approvata" in html
    proponent = signed(app, world, world.proponents[1])
    html = proponent.get(f"/account/candidature/{rejected}").get_data(as_text=True)
    assert "La commissione non ha finanziato questa idea." in html


def test_a_loan_is_proposed_approved_and_disbursed_through_the_pages(app, world):
    application_id = apply(world, world.proponents[0], kind="loan")
    screened(world, application_id)
    admin = signed(app, world, world.admin, two_factor=True)
    treasurer = signed(app, world, world.treasurer, two_factor=True)
    page = f"/gestione/candidature/{application_id}"
    response = post_action(
        admin,
        page,
        f"{page}/proposta",
        {"amount": "2.400,00", "kind": "loan", "term_months": "12", "first_due_on": "2026-08-01"},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    award = world.run(lambda s: live_award(s, application_id))
    assert (
        post_action(treasurer, page, f"/gestione/contributi/{award.id}/approva").status_code == 303
    )
    response = post_action(treasurer, page, f"/gestione/contributi/{award.id}/eroga")
    assert response.status_code == 409  # the approver does not also disburse
    assert post_action(admin, page, f"/gestione/contributi/{award.id}/eroga").status_code == 303
    position = world.run(lambda s: funds.fund_position(s, world.fund_id))
    assert (position.cash_minor, position.loans_outstanding_minor) == (1_260_000, 240_000)
    assert status_of(world, application_id) == "closed"


def test_a_treasurer_reads_the_ranking_and_an_application_without_a_code(app, world):
    application_id = apply(world, world.proponents[0])
    screened(world, application_id)
    email, _secret = can_sign_in(world, world.treasurer)
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    html = client.get(f"/gestione/bandi/{world.call_id}").get_data(as_text=True)
    assert "Orto condiviso" in html and "Graduatoria" in html
    assert client.get(f"/gestione/candidature/{application_id}").status_code == 200
    # Acting needs the second factor: the page sends the treasurer to enrol it.
    token = csrf_token(client.get(f"/gestione/candidature/{application_id}").get_data(as_text=True))
    response = client.post(
        f"/gestione/candidature/{application_id}/respingi", data={"csrf_token": token}
    )
    assert response.status_code == 302 and "/account/2fa" in response.headers["Location"]


def test_a_return_submitted_twice_from_the_same_form_is_booked_once(app, world):
    from ledger.funds.awards import approve_award, approve_tranche, pay_tranche, propose_award

    application_id = apply(world, world.proponents[0])
    screened(world, application_id)

    def paid(session):  # type: ignore[no-untyped-def]
        award = propose_award(
            session,
            application_id,
            amount_minor=100_000,
            kind="grant",
            actor_user_id=world.admin,
            clock=world.clock,
        )
        approve_award(session, award.id, actor_user_id=world.treasurer, clock=world.clock)
        tranche = tranches_of(session, award.id)[0]
        approve_tranche(session, tranche.id, actor_user_id=world.admin, clock=world.clock)
        pay_tranche(session, tranche.id, actor_user_id=world.treasurer, clock=world.clock)
        return award.id

    award_id = world.run(paid)
    treasurer = signed(app, world, world.treasurer, two_factor=True)
    page = f"/gestione/candidature/{application_id}"
    html = treasurer.get(page).get_data(as_text=True)
    key = re.search(r'name="form_key" type="hidden" value="([0-9a-f]+)"', html)
    assert key is not None
    data = {"csrf_token": csrf_token(html), "form_key": key.group(1), "amount": "200,00"}
    for _ in range(2):
        response = treasurer.post(f"/gestione/contributi/{award_id}/restituzione", data=data)
        assert response.status_code == 303
    position = world.run(lambda s: funds.fund_position(s, world.fund_id))
    assert position.grants_paid_minor == 80_000


def test_the_committee_sees_who_proposed_the_idea_to_judge_a_conflict(app, world):
    application_id = apply(world, world.proponents[0])
    screened(world, application_id)
    reviewer = signed(app, world, world.reviewers[0])
    html = reviewer.get(f"/valutazione/candidature/{application_id}").get_data(as_text=True)
    assert "Proponente: Proponente1" in html


def test_a_call_submitted_twice_from_the_same_form_is_created_once(app, world):
    from ledger.audit.models import AuditEvent
    from ledger.funds.call_models import Call

    admin = signed(app, world, world.admin, two_factor=True)
    html = admin.get("/gestione/bandi/nuovo").get_data(as_text=True)
    key = re.search(r'name="form_key" type="hidden" value="([0-9a-f]+)"', html)
    assert key is not None
    data = {
        "csrf_token": csrf_token(html),
        "form_key": key.group(1),
        "fund": str(world.fund_id),
        "title": "Seconda edizione",
        "budget": "5.000,00",
        "max_award": "1.000,00",
        "opens_at": "2026-07-01T00:00",
        "closes_at": "2026-07-31T23:59",
        "award_kind": "grant",
        "criteria": "Impatto sociale | 3",
        "questions": "Il progetto si svolge a Brescia? | sì",
        "reviewers": [str(r) for r in world.reviewers],
    }
    locations = []
    for _ in range(2):
        response = admin.post("/gestione/bandi/nuovo", data=data)
        assert response.status_code == 303, response.get_data(as_text=True)
        locations.append(response.headers["Location"])
    assert locations[0] == locations[1]
    titles = world.run(lambda s: [c.title for c in s.scalars(select(Call).order_by(Call.id))])
    assert titles == ["#genera_idee 2026", "Seconda edizione"]
    actions = world.run(
        lambda s: list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.action == "call.create"))
        )
    )
    assert actions == ["call.create"]


def test_a_form_sent_again_with_its_key_but_other_data_is_refused_in_italian(app, world):
    from ledger.funds.call_models import Call

    admin = signed(app, world, world.admin, two_factor=True)
    html = admin.get("/gestione/bandi/nuovo").get_data(as_text=True)
    key = re.search(r'name="form_key" type="hidden" value="([0-9a-f]+)"', html)
    assert key is not None
    data = {
        "csrf_token": csrf_token(html),
        "form_key": key.group(1),
        "fund": str(world.fund_id),
        "title": "Seconda edizione",
        "budget": "5.000,00",
        "max_award": "1.000,00",
        "opens_at": "2026-07-01T00:00",
        "closes_at": "2026-07-31T23:59",
        "award_kind": "grant",
        "criteria": "Impatto sociale | 3",
        "questions": "Il progetto si svolge a Brescia? | sì",
        "reviewers": [str(r) for r in world.reviewers],
    }
    assert admin.post("/gestione/bandi/nuovo", data=data).status_code == 303
    refused = admin.post("/gestione/bandi/nuovo", data={**data, "title": "Terza edizione"})
    assert refused.status_code == 422
    assert "già stato inviato con altri dati" in refused.get_data(as_text=True)
    titles = world.run(lambda s: [c.title for c in s.scalars(select(Call).order_by(Call.id))])
    assert titles == ["#genera_idee 2026", "Seconda edizione"]
