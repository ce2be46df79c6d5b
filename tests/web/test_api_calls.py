"""Calls for ideas in the JSON API: the whole path by tokens, four eyes, Idempotency-Key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ledger.audit.models import AuditEvent
from ledger.funds import service as funds
from ledger.funds.awards import TrancheSpec, approve_award, approve_tranche, pay_tranche
from ledger.funds.call_models import ConflictDeclaration, Review
from ledger.people.models import User
from ledger.people.service import issue_token, set_roles
from tests.integration.calls_world import World, build_world
from tests.integration.test_calls import approved_grant, in_review, propose
from tests.web.test_api import Caller

API = "/api/v1"
ALL_SCOPES = ("read", "money")  # the tests act as a client given both


@pytest.fixture
def world(ledger, clock) -> World:  # type: ignore[no-untyped-def]
    return build_world(ledger, clock)


def caller(world: World, user_id: int) -> Caller:
    def work(session):  # type: ignore[no-untyped-def]
        token, row = issue_token(
            session, session.get(User, user_id), "test", now=world.clock.now(), scopes=ALL_SCOPES
        )
        return Caller(user_id, token, row.id)

    return world.run(work)


def answers(world: World) -> list[dict[str, object]]:
    return [
        {"question_id": world.questions[0], "answer": True},
        {"question_id": world.questions[1], "answer": False},
    ]


def applied(client, world: World, proponent: Caller, **extra: object) -> int:  # type: ignore[no-untyped-def]
    body = {
        "title": "Orto condiviso",
        "summary": "Un orto nel cortile.",
        "requested": "2000.00",
        "kind": "grant",
        "answers": answers(world),
        **extra,
    }
    response = client.post(
        f"{API}/calls/{world.call_id}/applications", json=body, headers=proponent.auth
    )
    assert response.status_code == 201, response.get_json()
    application_id = int(response.get_json()["id"])
    response = client.post(f"{API}/applications/{application_id}/submit", headers=proponent.auth)
    assert response.status_code == 200, response.get_json()
    return application_id


def test_the_whole_path_of_a_grant_through_the_api(client, world):
    proponent = caller(world, world.proponents[0])
    admin = caller(world, world.admin)
    treasurer = caller(world, world.treasurer)
    reviewer = caller(world, world.reviewers[0])
    application_id = applied(client, world, proponent)
    assert (
        client.post(f"{API}/applications/{application_id}/screen", headers=admin.auth).get_json()[
            "status"
        ]
        == "in_review"
    )
    response = client.post(
        f"{API}/applications/{application_id}/reviews",
        json={"scores": [{"criterion_id": c, "score": 7} for c in world.criteria]},
        headers=reviewer.auth,
    )
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        409,
        "conflict_of_interest",
    )
    response = client.post(
        f"{API}/applications/{application_id}/conflict",
        json={"conflicted": False},
        headers=reviewer.auth,
    )
    assert response.status_code == 201
    response = client.post(
        f"{API}/applications/{application_id}/reviews",
        json={
            "scores": [{"criterion_id": c, "score": 7} for c in world.criteria],
            "comment": "Solida.",
        },
        headers=reviewer.auth,
    )
    assert response.status_code == 201
    ranking = client.get(f"{API}/calls/{world.call_id}/ranking", headers=treasurer.auth).get_json()
    assert [(r["application_id"], r["rank"], r["score"]) for r in ranking["ranking"]] == [
        (application_id, 1, "7.00")
    ]
    response = client.post(
        f"{API}/applications/{application_id}/awards",
        json={
            "amount": "1800.00",
            "kind": "grant",
            "tranches": [
                {"amount": "1000.00", "milestone": "Attrezzi"},
                {"amount": "800.00", "milestone": "Apertura"},
            ],
        },
        headers=admin.auth,
    )
    assert response.status_code == 201, response.get_json()
    award_id = response.get_json()["id"]
    response = client.post(f"{API}/awards/{award_id}/approve", headers=admin.with_key("a1"))
    assert (response.status_code, response.get_json()["error"]["code"]) == (409, "four_eyes")
    response = client.post(f"{API}/awards/{award_id}/approve", headers=treasurer.with_key("a1"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "approved" and [t["status"] for t in body["tranches"]] == [
        "planned",
        "planned",
    ]
    replay = client.post(f"{API}/awards/{award_id}/approve", headers=treasurer.with_key("a1"))
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == body
    first, second = (t["id"] for t in body["tranches"])
    assert client.post(f"{API}/tranches/{first}/approve", headers=admin.auth).status_code == 200
    missing = client.post(f"{API}/tranches/{first}/pay", headers=treasurer.auth)
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (
        422,
        "idempotency_key_required",
    )
    paid = client.post(f"{API}/tranches/{first}/pay", headers=treasurer.with_key("p1"))
    assert paid.status_code == 201
    assert paid.get_json()["tranches"][0]["entry_id"]
    again = client.post(f"{API}/tranches/{first}/pay", headers=treasurer.with_key("p1"))
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    waiting = client.post(f"{API}/tranches/{second}/approve", headers=admin.auth)
    assert (waiting.status_code, waiting.get_json()["error"]["code"]) == (
        409,
        "milestone_report_missing",
    )
    report = client.post(
        f"{API}/tranches/{first}/report", json={"report": "Fatto."}, headers=proponent.auth
    )
    assert report.status_code == 200
    assert client.post(f"{API}/tranches/{second}/approve", headers=admin.auth).status_code == 200
    assert (
        client.post(f"{API}/tranches/{second}/pay", headers=treasurer.with_key("p2")).status_code
        == 201
    )
    position = world.run(lambda s: funds.fund_position(s, world.fund_id))
    assert (position.cash_minor, position.committed_minor, position.grants_paid_minor) == (
        1_320_000,
        0,
        180_000,
    )
    mine = client.get(f"{API}/me/applications", headers=proponent.auth).get_json()["applications"]
    assert [(a["id"], a["status"], a["awards"][0]["amount"]) for a in mine] == [
        (application_id, "disbursing", "1800.00")
    ]
    events = world.run(
        lambda s: [
            e.action
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "tranche.pay"))
        ]
    )
    assert events == ["tranche.pay", "tranche.pay"]


def test_a_key_used_for_one_award_is_refused_on_another(client, world):
    proponents = [caller(world, p) for p in world.proponents[:2]]
    admin = caller(world, world.admin)
    treasurer = caller(world, world.treasurer)
    awards = []
    for proponent in proponents:
        application_id = applied(client, world, proponent)
        client.post(f"{API}/applications/{application_id}/screen", headers=admin.auth)
        response = client.post(
            f"{API}/applications/{application_id}/awards",
            json={"amount": "1000.00", "kind": "grant"},
            headers=admin.auth,
        )
        awards.append(response.get_json()["id"])
    assert (
        client.post(
            f"{API}/awards/{awards[0]}/approve", headers=treasurer.with_key("same")
        ).status_code
        == 201
    )
    response = client.post(f"{API}/awards/{awards[1]}/approve", headers=treasurer.with_key("same"))
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        409,
        "idempotency_conflict",
    )
    position = world.run(lambda s: funds.fund_position(s, world.fund_id))
    assert position.committed_minor == 100_000


def test_an_application_is_visible_to_its_proponent_the_staff_and_the_committee_only(client, world):
    owner = caller(world, world.proponents[0])
    application_id = applied(client, world, owner)
    other = caller(world, world.proponents[1])
    outsider = caller(world, world.outsider_reviewer)
    member = caller(world, world.reviewers[0])
    admin = caller(world, world.admin)
    for who, status in ((owner, 200), (admin, 200), (member, 200), (other, 404), (outsider, 404)):
        assert (
            client.get(f"{API}/applications/{application_id}", headers=who.auth).status_code
            == status
        )


def test_applying_after_the_call_closed_is_a_409_and_writes_nothing(client, world):
    from tests.integration.calls_world import CLOSES

    proponent = caller(world, world.proponents[0])
    world.clock.instant = CLOSES
    response = client.post(
        f"{API}/calls/{world.call_id}/applications",
        json={"title": "Tardi", "summary": "x", "requested": "10.00", "kind": "grant"},
        headers=proponent.auth,
    )
    assert (response.status_code, response.get_json()["error"]["code"]) == (409, "call_closed")
    assert client.get(f"{API}/me/applications", headers=proponent.auth).get_json() == {
        "applications": []
    }


def test_an_amount_as_a_json_number_is_refused(client, world):
    proponent = caller(world, world.proponents[0])
    response = client.post(
        f"{API}/calls/{world.call_id}/applications",
        json={"title": "Idea", "summary": "x", "requested": 20.5, "kind": "grant"},
        headers=proponent.auth,
    )
    assert response.status_code == 422
    assert "requested" in response.get_json()["error"]["details"]["fields"]


def test_a_call_is_created_by_an_admin_and_listed_with_its_rules(client, world):
    admin = caller(world, world.admin)
    response = client.post(
        f"{API}/calls",
        json={
            "fund_id": world.fund_id,
            "title": "Seconda edizione",
            "budget": "5000.00",
            "max_award": "1000.00",
            "opens_at": "2026-07-01T00:00:00+02:00",
            "closes_at": "2026-07-31T23:59:00+02:00",
            "award_kind": "grant",
            "criteria": [{"name": "Impatto", "weight": 2}],
            "questions": [{"text": "Residente?", "required_answer": True}],
            "reviewer_user_ids": world.reviewers,
        },
        headers=admin.auth,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["budget"], body["remaining"], body["open"], body["reviewer_user_ids"]) == (
        "5000.00",
        "5000.00",
        False,
        sorted(world.reviewers),
    )
    listed = client.get(f"{API}/calls", headers=admin.auth).get_json()["calls"]
    assert {c["title"] for c in listed} == {"#genera_idee 2026", "Seconda edizione"}


def test_the_staff_list_a_calls_applications_without_the_drafts(client, world):
    proponent = caller(world, world.proponents[0])
    submitted = applied(client, world, proponent)
    draft = client.post(
        f"{API}/calls/{world.call_id}/applications",
        json={"title": "Bozza", "summary": "x", "requested": "10.00", "kind": "grant"},
        headers=proponent.auth,
    ).get_json()["id"]
    treasurer = caller(world, world.treasurer)
    listed = client.get(f"{API}/calls/{world.call_id}/applications", headers=treasurer.auth)
    assert [(a["id"], a["status"]) for a in listed.get_json()["applications"]] == [
        (submitted, "submitted")
    ]
    assert draft != submitted
    assert (
        client.get(f"{API}/calls/{world.call_id}/applications", headers=proponent.auth).status_code
        == 403
    )


def test_a_reviewer_who_applied_cannot_declare_no_conflict_nor_score_through_the_api(client, world):
    member = world.reviewers[0]
    world.run(lambda s: set_roles(s.get(User, member), ["reviewer", "proponent"]))
    own = caller(world, member)
    application_id = applied(client, world, own)
    admin = caller(world, world.admin)
    client.post(f"{API}/applications/{application_id}/screen", headers=admin.auth)

    declared = client.post(
        f"{API}/applications/{application_id}/conflict",
        json={"conflicted": False},
        headers=own.auth,
    )
    scored = client.post(
        f"{API}/applications/{application_id}/reviews",
        json={"scores": [{"criterion_id": c, "score": 10} for c in world.criteria]},
        headers=own.auth,
    )

    for response in (declared, scored):
        error = response.get_json()["error"]
        assert (response.status_code, error["code"], error["details"]) == (
            409,
            "conflict_of_interest",
            {"proponent": True},
        )
    reviews = world.run(lambda s: s.scalars(select(Review)).all())
    assert reviews == []


STAFF_IDS = {"actor_user_id", "proposed_by_user_id", "approved_by_user_id", "paid_by_user_id"}


def staff_ids_in(body: object) -> set[str]:
    """The staff-id fields of a JSON body that carry a value, anywhere in it."""
    found: set[str] = set()
    if isinstance(body, dict):
        for name, value in body.items():
            if name in STAFF_IDS and value is not None:
                found.add(name)
            found |= staff_ids_in(value)
    elif isinstance(body, list):
        for item in body:
            found |= staff_ids_in(item)
    return found


def test_a_committee_member_reads_an_application_as_the_review_page_shows_it(client, world):
    """No history (staff ids, notes), no award, no tranche: what the review page shows."""
    application_id, _award, (first, _second) = approved_grant(world)
    world.run(lambda s: approve_tranche(s, first, actor_user_id=world.admin, clock=world.clock))
    world.run(lambda s: pay_tranche(s, first, actor_user_id=world.treasurer, clock=world.clock))
    member = caller(world, world.reviewers[0])

    body = client.get(f"{API}/applications/{application_id}", headers=member.auth).get_json()

    assert (body["id"], body["title"], body["requested"]) == (
        application_id,
        "Orto condiviso",
        "2000.00",
    )
    assert (body["history"], body["awards"]) == ([], [])
    assert staff_ids_in(body) == set()
    staff = caller(world, world.treasurer)
    full = client.get(f"{API}/applications/{application_id}", headers=staff.auth).get_json()
    assert full["history"] and full["awards"][0]["tranches"]
    assert staff_ids_in(full) == STAFF_IDS


def test_a_proponent_reads_their_application_without_staff_ids_or_an_undecided_proposal(
    client, world
):
    application_id = in_review(world)
    award_id = propose(world, application_id, 200_000, tranches=[TrancheSpec(200_000, "Apertura")])
    owner = caller(world, world.proponents[0])
    url = f"{API}/applications/{application_id}"

    proposed = client.get(url, headers=owner.auth).get_json()
    assert proposed["awards"] == []  # the page shows no decision before the approval
    world.run(
        lambda s: approve_award(s, award_id, actor_user_id=world.treasurer, clock=world.clock)
    )
    decided = client.get(url, headers=owner.auth).get_json()
    mine = client.get(f"{API}/me/applications", headers=owner.auth).get_json()["applications"]

    assert [a["amount"] for a in decided["awards"]] == ["2000.00"]
    assert [e["to_status"] for e in decided["history"]][-1] == "approved"
    assert staff_ids_in(decided) == staff_ids_in(mine) == set()


def test_committee_ids_are_shown_to_the_staff_only(client, world):
    proponent = caller(world, world.proponents[0])
    member = caller(world, world.reviewers[0])
    admin = caller(world, world.admin)
    for who in (proponent, member):
        one = client.get(f"{API}/calls/{world.call_id}", headers=who.auth).get_json()
        listed = client.get(f"{API}/calls", headers=who.auth).get_json()["calls"]
        assert "reviewer_user_ids" not in one
        assert all("reviewer_user_ids" not in c for c in listed)
    one = client.get(f"{API}/calls/{world.call_id}", headers=admin.auth).get_json()
    assert one["reviewer_user_ids"] == sorted(world.reviewers)


@pytest.mark.parametrize("act", ["conflict", "reviews"])
def test_an_application_the_caller_may_not_see_answers_like_one_that_does_not_exist(
    client, world, act
):
    """403 against 404 would tell a reviewer off the committee (or a member, of a draft)
    that an application exists: every one of them is a 404, and nothing is written."""
    owner = caller(world, world.proponents[0])
    submitted = applied(client, world, owner)
    admin = caller(world, world.admin)
    client.post(f"{API}/applications/{submitted}/screen", headers=admin.auth)
    draft = client.post(
        f"{API}/calls/{world.call_id}/applications",
        json={"title": "Bozza", "summary": "x", "requested": "10.00", "kind": "grant"},
        headers=owner.auth,
    ).get_json()["id"]
    outsider = caller(world, world.outsider_reviewer)
    member = caller(world, world.reviewers[0])
    body = (
        {"conflicted": False}
        if act == "conflict"
        else {"scores": [{"criterion_id": c, "score": 5} for c in world.criteria]}
    )

    def answer(who: Caller, application_id: int) -> tuple[int, str]:
        response = client.post(
            f"{API}/applications/{application_id}/{act}", json=body, headers=who.auth
        )
        return response.status_code, response.get_json()["error"]["code"]

    missing = answer(outsider, 999_999)
    assert missing == (404, "application_not_found")
    assert answer(outsider, submitted) == missing
    assert answer(member, draft) == missing
    assert answer(member, 999_999) == missing
    assert world.run(lambda s: s.scalars(select(ConflictDeclaration)).all()) == []
