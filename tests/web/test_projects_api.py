"""Projects through the JSON API: the worked figures of issue 15, the refusals that write
nothing, Idempotency-Key, who sees what (an officer of another foundation, a partner's
user) and the report in each format."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from ledger.campaigns import commands as campaign_commands
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.models import JournalEntry
from ledger.core.service import Ledger
from ledger.grants.service import add_officer, create_foundation
from ledger.people.models import User
from ledger.projects import commands
from tests.integration.test_campaign_commands import TREASURER, cash_gift, new_campaign
from tests.web.test_api import Caller, make_caller

API = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@dataclass
class World:
    staff: Caller
    second: Caller
    officer: Caller
    other_officer: Caller
    partner_user: Caller
    project_staff: Caller
    foundation: int
    other_foundation: int
    lead: int
    partner: int
    supplier: int
    project: int


def post(client, caller: Caller, path: str, body: Any = None, *, key: str):  # type: ignore[no-untyped-def]
    if body is None:
        return client.post(f"{API}{path}", headers=caller.with_key(key))
    return client.post(f"{API}{path}", json=body, headers=caller.with_key(key))


def created(response, status: int = 201) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_json()
    return response.get_json()


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


@pytest.fixture
def world(client, ledger: Ledger, clock: FixedClock) -> World:
    staff = make_caller(ledger, clock, "operatrice@example.org", "Ada Operatrice", ["treasurer"])
    second = make_caller(ledger, clock, "tesoriere@example.org", "Bruno Tesoriere", ["treasurer"])
    officer = make_caller(ledger, clock, "cariplo@example.org", "Carla Uff", ["foundation_officer"])
    other = make_caller(ledger, clock, "altra@example.org", "Dario Altri", ["foundation_officer"])
    partner_user = make_caller(ledger, clock, "comune@example.org", "Elena Comune", ["partner"])
    project_staff = make_caller(
        ledger, clock, "staff@example.org", "Fabio Staff", ["project_staff"]
    )

    def foundations(session):  # type: ignore[no-untyped-def]
        ours = create_foundation(session, name="Fondazione Cariplo", now=clock.now())
        theirs = create_foundation(session, name="Fondazione Altra", now=clock.now())
        add_officer(session, ours.id, officer.user_id, now=clock.now())
        add_officer(session, theirs.id, other.user_id, now=clock.now())
        return ours.id, theirs.id

    foundation, other_foundation = ledger.run(foundations)

    def org(name: str, kind: str) -> int:
        body = {"name": name, "kind": kind}
        return int(created(post(client, staff, "/project-organisations", body, key=name))["id"])

    lead = org("Consorzio Sociale Pavese", "cooperative")
    partner = org("Comune di Pavia", "public_body")
    supplier = org("Tipografia Ticino srl", "company")
    project = created(
        post(
            client,
            staff,
            "/projects",
            {
                "title": "Fare #BeneComune",
                "lead_organisation_id": lead,
                "starts_on": "2026-01-01",
                "ends_on": "2027-06-30",
                "programme": "Welfare in azione",
                "partners": [
                    {"organisation_id": partner, "role": "partner"},
                    {"organisation_id": supplier, "role": "supplier"},
                ],
                "funders": [{"foundation_id": foundation, "grant": "60000.00"}],
            },
            key="progetto",
        )
    )["id"]
    for organisation, caller in ((partner, partner_user), (lead, project_staff)):
        ledger.run(
            lambda s, o=organisation, c=caller: commands.add_organisation_member(
                s,
                organisation_id=o,
                user_id=c.user_id,
                origin=Origin(channel="web", user_id=staff.user_id),
                clock=clock,
            )
        )
    return World(
        staff,
        second,
        officer,
        other,
        partner_user,
        project_staff,
        foundation,
        other_foundation,
        lead,
        partner,
        supplier,
        project,
    )


def budget_of_100000(client, w: World) -> int:  # type: ignore[no-untyped-def]
    """A.1 90,000.00 (grant 60,000, partner 30,000), B.1 10,000.00 (partner), approved
    by a second person; the version's id."""
    version = created(
        post(
            client,
            w.staff,
            f"/projects/{w.project}/budget-versions",
            {
                "lines": [
                    {
                        "code": "A.1",
                        "category": "personnel",
                        "title": "Operatori di comunità",
                        "amounts": [
                            {"source": "grant", "ref": w.foundation, "amount": "60000.00"},
                            {"source": "partner", "ref": w.partner, "amount": "30000.00"},
                        ],
                    },
                    {
                        "code": "B.1",
                        "category": "services",
                        "title": "Servizi esterni",
                        "amounts": [{"source": "partner", "ref": w.partner, "amount": "10000.00"}],
                    },
                ]
            },
            key="budget-1",
        )
    )
    approve = f"/projects/{w.project}/budget-versions/{version['id']}/approve"
    assert created(post(client, w.second, approve, key="approva-1"), 200)["status"] == "approved"
    return int(version["id"])


def expense(number: str, line: str, amount: str, w: World, **extra: Any) -> dict[str, Any]:
    source = extra.pop("source", "grant")
    ref = {"grant": w.foundation, "partner": w.partner}.get(source, 0)
    return {
        "supplier_id": w.supplier,
        "number": number,
        "issued_on": "2026-05-04",
        "net": amount,
        "paid_by": "payable",
        "allocations": [{"line": line, "source": source, "ref": ref, "amount": amount}],
        "file": b64(PDF),
        **extra,
    }


def spent_90000(client, w: World) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """F-1 50,000 grant on A.1, F-2 30,000 borne by the partner on A.1, F-3 10,000 own on
    B.1; the documents' ids by number."""
    bodies = {
        "F-1": expense("F-1", "A.1", "50000.00", w),
        "F-2": expense(
            "F-2",
            "A.1",
            "30000.00",
            w,
            source="partner",
            paid_by="partner",
            partner_id=w.partner,
            file=b64(PNG),
        ),
        "F-3": expense("F-3", "B.1", "10000.00", w, source="own"),
    }
    return {
        number: created(post(client, w.staff, f"/projects/{w.project}/expenses", body, key=number))[
            "document_id"
        ]
        for number, body in bodies.items()
    }


def report(client, caller: Caller, w: World, **params: str):  # type: ignore[no-untyped-def]
    query = {"funder": str(w.foundation), **params}
    return client.get(f"{API}/projects/{w.project}/report", query_string=query, headers=caller.auth)


def test_a_project_that_spends_90000_of_a_100000_budget_is_due_54000_of_its_60000_grant(
    client, world
):
    budget_of_100000(client, world)
    spent_90000(client, world)
    response = report(client, world.officer, world)
    assert response.status_code == 200
    data = response.get_json()
    assert data["grant"] == "60000.00"
    assert data["grant_due"] == "54000.00"
    assert (data["total_budget"], data["total_actual"]) == ("100000.00", "90000.00")
    assert [(x["code"], x["budget"], x["actual"]) for x in data["lines"]] == [
        ("A.1", "90000.00", "80000.00"),
        ("B.1", "10000.00", "10000.00"),
    ]
    # Co-financing share = non-grant sources / total cost: (30,000 + 10,000) / 90,000.
    assert data["cofinancing_share"] == "0.4444"


def test_the_project_shows_its_funders_settings_budget_in_force_and_totals(client, world):
    budget_of_100000(client, world)
    spent_90000(client, world)
    listed = client.get(f"{API}/projects", headers=world.staff.auth).get_json()["projects"]
    assert listed == [
        {
            "id": world.project,
            "title": "Fare #BeneComune",
            "status": listed[0]["status"],
            "currency": "EUR",
            "period": {"from": "2026-01-01", "to": "2027-06-30"},
            "funders": [{"id": world.foundation, "name": "Fondazione Cariplo"}],
        }
    ]
    body = client.get(f"{API}/projects/{world.project}", headers=world.staff.auth).get_json()
    assert body["funders"][0]["grant"] == "60000.00"
    assert body["funders"][0]["variance_pct"] == "20"
    assert body["budget"]["total"] == "100000.00"
    assert body["budget"]["lines"][0]["amounts"][0] == {
        "source": "grant",
        "ref": world.foundation,
        "amount": "60000.00",
    }
    assert body["totals"]["actual"] == "90000.00"
    assert body["part"] is None
    assert {p["id"] for p in body["partners"]} == {world.partner, world.supplier}


def test_a_1000_invoice_charged_600_and_500_is_refused_and_nothing_is_written(
    client, world, ledger
):
    budget_of_100000(client, world)
    entries = ledger.read(lambda s: s.scalar(select(func.count()).select_from(JournalEntry)))
    documents = f"{API}/projects/{world.project}/documents"
    entries_before = client.get(f"{API}/projects/{world.project}", headers=world.staff.auth)
    body = expense("F-9", "A.1", "1000.00", world)
    body["allocations"] = [
        {"line": "A.1", "source": "grant", "ref": world.foundation, "amount": "600.00"},
        {"line": "A.1", "source": "partner", "ref": world.partner, "amount": "500.00"},
    ]
    response = post(client, world.staff, f"/projects/{world.project}/expenses", body, key="F-9")
    # The house maps over-allocation to 409 (`OverAllocatedError` in ledger.projects.errors).
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "expense_over_allocated"
    assert error["details"]["requested_minor"] == 110000
    assert client.get(documents, headers=world.staff.auth).get_json() == {"documents": []}
    assert ledger.read(lambda s: s.scalar(select(func.count()).select_from(JournalEntry))) == (
        entries
    )
    after = client.get(f"{API}/projects/{world.project}", headers=world.staff.auth)
    assert after.get_json()["totals"] == entries_before.get_json()["totals"]
    # The same key may then be used for a valid request: the refusal claimed nothing.
    body["allocations"][1]["amount"] = "400.00"
    assert (
        post(
            client, world.staff, f"/projects/{world.project}/expenses", body, key="F-9"
        ).status_code
        == 201
    )


def test_a_document_charged_to_a_second_source_later_is_refused_beyond_its_amount(client, world):
    budget_of_100000(client, world)
    body = expense("F-5", "A.1", "1000.00", world)
    body["allocations"][0]["amount"] = "600.00"
    doc = created(post(client, world.staff, f"/projects/{world.project}/expenses", body, key="F-5"))
    charge = {
        "allocations": [
            {"line": "A.1", "source": "partner", "ref": world.partner, "amount": "500.00"}
        ]
    }
    path = f"/projects/{world.project}/documents/{doc['document_id']}/charges"
    refused = post(client, world.staff, path, charge, key="c-1")
    assert refused.status_code == 409
    charge["allocations"][0]["amount"] = "400.00"
    assert created(post(client, world.staff, path, charge, key="c-2"))["allocated"] == "1000.00"


def test_an_expense_repeated_with_its_key_is_replayed_and_another_body_is_a_conflict(client, world):
    budget_of_100000(client, world)
    path = f"/projects/{world.project}/expenses"
    body = expense("F-7", "A.1", "700.00", world)
    first = created(post(client, world.staff, path, body, key="spesa-7"))
    again = post(client, world.staff, path, body, key="spesa-7")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first
    other = post(client, world.staff, path, {**body, "net": "800.00"}, key="spesa-7")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_conflict"
    listed = client.get(f"{API}/projects/{world.project}/documents", headers=world.staff.auth)
    assert [d["number"] for d in listed.get_json()["documents"]] == ["F-7"]
    missing = client.post(f"{API}{path}", json=body, headers=world.staff.auth)
    assert missing.status_code == 422
    assert missing.get_json()["error"]["code"] == "idempotency_key_required"


def test_the_proposer_cannot_approve_and_an_approval_repeated_with_its_key_is_replayed(
    client, world
):
    version = created(
        post(
            client,
            world.staff,
            f"/projects/{world.project}/budget-versions",
            {
                "lines": [
                    {
                        "code": "A.1",
                        "category": "personnel",
                        "title": "Operatori",
                        "amounts": [
                            {"source": "grant", "ref": world.foundation, "amount": "60000.00"},
                            {"source": "partner", "ref": world.partner, "amount": "40000.00"},
                        ],
                    }
                ]
            },
            key="b",
        )
    )
    path = f"/projects/{world.project}/budget-versions/{version['id']}/approve"
    own = post(client, world.staff, path, key="a-1")
    assert own.status_code == 409
    assert own.get_json()["error"]["code"] == "project_four_eyes"
    assert created(post(client, world.second, path, key="a-2"), 200)["status"] == "approved"
    replay = post(client, world.second, path, key="a-2")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"


def test_an_officer_of_another_foundation_gets_404_for_the_project_its_report_and_files(
    client, world
):
    budget_of_100000(client, world)
    ids = spent_90000(client, world)
    caller = world.other_officer
    assert client.get(f"{API}/projects", headers=caller.auth).get_json() == {"projects": []}
    for path in (
        f"/projects/{world.project}",
        f"/projects/{world.project}/documents",
        f"/projects/{world.project}/documents/{ids['F-1']}/file",
    ):
        response = client.get(f"{API}{path}", headers=caller.auth)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "project_not_found"
        assert "Fare" not in response.get_data(as_text=True)
    assert report(client, caller, world).status_code == 404
    # Asking for its own foundation changes nothing: the project does not exist for it.
    assert report(client, caller, world, funder=str(world.other_foundation)).status_code == 404
    missing = client.get(f"{API}/projects/999999", headers=caller.auth)
    assert missing.get_json()["error"]["code"] == "project_not_found"
    # The funder's own officer reads the file as uploaded.
    own = client.get(
        f"{API}/projects/{world.project}/documents/{ids['F-1']}/file", headers=world.officer.auth
    )
    assert own.status_code == 200 and own.mimetype == "application/pdf" and own.data == PDF


def test_a_partners_user_sees_only_its_organisations_part(client, world):
    budget_of_100000(client, world)
    ids = spent_90000(client, world)
    caller = world.partner_user
    listed = client.get(f"{API}/projects", headers=caller.auth).get_json()["projects"]
    assert [p["id"] for p in listed] == [world.project]
    body = client.get(f"{API}/projects/{world.project}", headers=caller.auth).get_json()
    assert body["budget"] is None and body["totals"] is None
    assert [p["id"] for p in body["partners"]] == [world.partner]
    assert "grant" not in body["funders"][0]
    assert body["part"]["organisations"] == [world.partner]
    assert [(c["id"], c["amount"]) for c in body["part"]["costs"]] == [(ids["F-2"], "30000.00")]
    documents = client.get(f"{API}/projects/{world.project}/documents", headers=caller.auth)
    assert [d["number"] for d in documents.get_json()["documents"]] == ["F-2"]
    own = client.get(
        f"{API}/projects/{world.project}/documents/{ids['F-2']}/file", headers=caller.auth
    )
    assert own.status_code == 200 and own.data == PNG and own.mimetype == "image/png"
    lead_file = client.get(
        f"{API}/projects/{world.project}/documents/{ids['F-1']}/file", headers=caller.auth
    )
    assert lead_file.status_code == 404
    assert report(client, caller, world).status_code == 404
    refused = post(
        client,
        caller,
        f"/projects/{world.project}/contributions",
        {"organisation_id": world.partner, "amount": "1.00"},
        key="x",
    )
    assert refused.status_code == 403


def test_project_staff_of_the_lead_act_on_the_project_and_see_it_whole(client, world):
    caller = world.project_staff
    received = created(
        post(
            client,
            caller,
            f"/projects/{world.project}/contributions",
            {"organisation_id": world.partner, "amount": "2500.00", "received_on": "2026-03-02"},
            key="contributo-1",
        )
    )
    assert received["amount"] == "2500.00"
    body = client.get(f"{API}/projects/{world.project}", headers=caller.auth).get_json()
    assert body["totals"]["received"] == "2500.00"
    partner_view = client.get(
        f"{API}/projects/{world.project}", headers=world.partner_user.auth
    ).get_json()
    assert [(c["kind"], c["amount"]) for c in partner_view["part"]["contributions"]] == [
        ("partner_cash", "2500.00")
    ]


def test_a_reader_who_may_not_act_is_refused_and_nothing_is_written(client, world, ledger, clock):
    # Project staff of another organisation does not even see the project.
    stranger = make_caller(ledger, clock, "altro@example.org", "Gino Altro", ["project_staff"])
    response = post(
        client,
        stranger,
        f"/projects/{world.project}/grant-received",
        {"funder_id": world.foundation, "amount": "1000.00"},
        key="g",
    )
    assert response.status_code == 404
    body = client.get(f"{API}/projects/{world.project}", headers=world.staff.auth).get_json()
    assert body["totals"]["received"] == "0.00"


@pytest.mark.parametrize(
    ("fmt", "mimetype", "magic"),
    [
        ("csv", "text/csv", None),
        ("pdf", "application/pdf", b"%PDF"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK"),
    ],
)
def test_the_report_as_a_file_has_its_content_type_and_name(client, world, fmt, mimetype, magic):
    budget_of_100000(client, world)
    spent_90000(client, world)
    response = report(
        client, world.officer, world, format=fmt, **{"from": "2026-01-01", "to": "2026-12-31"}
    )
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="rendiconto-progetto-{world.project}-2026-01-01-2026-12-31.{fmt}"'
    )
    if magic is not None:
        assert response.data.startswith(magic)
    if fmt == "csv":
        assert "54000" in response.get_data(as_text=True).replace(".", "").replace(",", "")
    if fmt == "xlsx":
        book = load_workbook(io.BytesIO(response.data))
        cells = [str(c.value) for ws in book for row in ws.iter_rows() for c in row if c.value]
        assert any("54000" in c.replace(".", "").replace(",", "") for c in cells)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "1 June 2026"}, "to"),
        ({"format": "docx"}, "format"),
        ({"from": "2026-06-30", "to": "2026-06-01"}, "to"),
    ],
)
def test_a_bad_date_or_format_is_422(client, world, params, field):
    response = report(client, world.staff, world, **params)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]["fields"]


def test_a_funder_that_does_not_fund_the_project_is_404(client, world):
    response = report(client, world.staff, world, funder=str(world.other_foundation))
    assert response.status_code == 404


def test_every_project_route_is_in_the_openapi_document_with_its_key(client):
    spec = client.get(f"{API}/openapi.json").get_json()
    posts = {
        "/projects",
        "/project-organisations",
        "/projects/{project_id}/budget-versions",
        "/projects/{project_id}/budget-versions/{version_id}/approve",
        "/projects/{project_id}/expenses",
        "/projects/{project_id}/documents/{document_id}/charges",
        "/projects/{project_id}/documents/{document_id}/proof",
        "/projects/{project_id}/grant-received",
        "/projects/{project_id}/contributions",
        "/projects/{project_id}/campaigns",
        "/projects/{project_id}/payouts",
        "/projects/{project_id}/payouts/{receipt_id}/pay",
        "/volunteer-rates",
        "/projects/{project_id}/volunteer-hours",
        "/projects/{project_id}/in-kind",
        "/volunteers",
        "/volunteers/{enrolment_id}/end",
    }
    gets = {
        "/volunteers",
        "/projects",
        "/projects/{project_id}",
        "/projects/{project_id}/report",
        "/projects/{project_id}/documents",
        "/projects/{project_id}/documents/{document_id}/file",
    }
    for path in posts:
        operation = spec["paths"][API + path]["post"]
        assert "IdempotencyKey" in str(operation["parameters"]), path
        assert operation["x-token-scope"] == "money", path
    for path in gets:
        assert spec["paths"][API + path]["get"]["x-token-scope"] == "read", path


def test_volunteer_rates_hours_and_in_kind_are_figurative_and_replayed_by_key(
    client, world, ledger
):
    rate = created(
        post(
            client,
            world.staff,
            "/volunteer-rates",
            {"role": "animatore", "hourly": "18.00", "valid_from": "2026-01-01"},
            key="tariffa",
        )
    )
    assert rate["hourly"] == "18.00"
    again = post(
        client,
        world.staff,
        "/volunteer-rates",
        {"role": "animatore", "hourly": "18.00", "valid_from": "2026-01-01"},
        key="tariffa",
    )
    assert again.status_code == 200 and again.get_json()["id"] == rate["id"]
    person = ledger.read(lambda s: s.get(User, world.staff.user_id).person_id)
    enrolment = {"person_id": person, "enrolled_on": "2026-01-01"}
    created(post(client, world.staff, "/volunteers", enrolment, key="iscrizione"))
    hours = created(
        post(
            client,
            world.staff,
            f"/projects/{world.project}/volunteer-hours",
            {
                "person_id": person,
                "activity": "Doposcuola",
                "role": "animatore",
                "minutes": 150,
                "done_on": "2026-04-10",
            },
            key="ore-1",
        )
    )
    assert hours["value"] == "45.00"
    gift = created(
        post(
            client,
            world.staff,
            f"/projects/{world.project}/in-kind",
            {
                "description": "Sala civica",
                "fair_value": "300.00",
                "received_on": "2026-04-11",
                "organisation_id": world.partner,
            },
            key="natura-1",
        )
    )
    assert gift["value"] == "300.00"
    body = client.get(f"{API}/projects/{world.project}", headers=world.staff.auth).get_json()
    assert body["totals"]["figurative"] == "345.00"
    assert body["totals"]["received"] == "0.00"


def test_a_succeeded_campaign_is_linked_proposed_and_paid_out_by_a_second_person(
    client, world, ledger, clock
):
    campaign_id = new_campaign(ledger, goal="100.00")
    cash_gift(ledger, campaign_id, "150.00", "gift-1")
    clock.instant += timedelta(days=31)
    ledger.run(
        lambda s: campaign_commands.close_campaign(
            s, campaign_id, origin=TREASURER, clock=ledger.clock
        )
    )
    base = f"/projects/{world.project}"
    link = {"campaign_id": campaign_id}
    assert (
        created(post(client, world.staff, f"{base}/campaigns", link, key="l"))["campaign_id"]
        == campaign_id
    )
    proposed = created(post(client, world.staff, f"{base}/payouts", link, key="p"))
    assert (proposed["status"], proposed["amount"]) == ("proposed", "150.00")
    pay = f"{base}/payouts/{proposed['receipt_id']}/pay"
    own = post(client, world.staff, pay, key="own")
    assert own.status_code == 409
    assert own.get_json()["error"]["code"] == "project_four_eyes"
    paid = created(post(client, world.second, pay, key="pay"), 200)
    assert paid["status"] == "paid" and paid["sequence"] is not None
    replay = post(client, world.second, pay, key="pay")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == paid
    again = post(client, world.second, pay, key="pay-again")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "project_payout"
    body = client.get(f"{API}{base}", headers=world.staff.auth).get_json()
    assert body["totals"]["received"] == "150.00"
    assert ledger.verify().ok


def test_a_proof_of_payment_is_an_entry_attached_once(client, world, ledger):
    budget_of_100000(client, world)
    doc = created(
        post(
            client,
            world.staff,
            f"/projects/{world.project}/expenses",
            expense("F-4", "A.1", "100.00", world),
            key="F-4",
        )
    )
    path = f"/projects/{world.project}/documents/{doc['document_id']}/proof"
    proof = {"entry_sequence": doc["sequence"]}
    assert (
        created(post(client, world.staff, path, proof, key="q"))["document_id"]
        == doc["document_id"]
    )
    listed = client.get(f"{API}/projects/{world.project}/documents", headers=world.staff.auth)
    assert listed.get_json()["documents"][0]["payment_sequence"] == doc["sequence"]
    other_project_path = f"/projects/{world.project + 1}/documents/{doc['document_id']}/proof"
    assert post(client, world.staff, other_project_path, proof, key="q2").status_code == 404


def test_a_grant_from_a_foundation_that_does_not_fund_the_project_is_422_on_its_field(
    client, world
):
    budget_of_100000(client, world)
    body = expense("F-8", "A.1", "100.00", world)
    body["allocations"][0]["ref"] = world.other_foundation
    response = post(client, world.staff, f"/projects/{world.project}/expenses", body, key="F-8")
    assert response.status_code == 422
    assert "allocations.0.ref" in response.get_json()["error"]["details"]["fields"]


def _entries(ledger: Ledger) -> int:
    return int(ledger.read(lambda s: s.scalar(select(func.count()).select_from(JournalEntry))))


def test_the_register_of_volunteers_is_kept_through_the_api_and_gates_the_hours(
    client, world, ledger
):
    person = ledger.read(lambda s: s.get(User, world.project_staff.user_id).person_id)
    created(
        post(
            client,
            world.staff,
            "/volunteer-rates",
            {"role": "animatore", "hourly": "18.00", "valid_from": "2026-01-01"},
            key="tariffa",
        )
    )

    def hours(day: str, key: str):  # type: ignore[no-untyped-def]
        body = {
            "person_id": person,
            "activity": "Doposcuola",
            "role": "animatore",
            "minutes": 60,
            "done_on": day,
        }
        return post(
            client, world.project_staff, f"/projects/{world.project}/volunteer-hours", body, key=key
        )

    before = _entries(ledger)
    refused = hours("2026-03-02", "ore-0")
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "invalid_project"
    assert _entries(ledger) == before
    body = {"person_id": person, "enrolled_on": "2026-02-01", "activity": "Doposcuola"}
    enrolment = created(post(client, world.project_staff, "/volunteers", body, key="iscr-1"))
    assert enrolment["person_id"] == person and enrolment["ended_on"] is None
    assert enrolment["name"] == "Fabio Staff"
    replay = post(client, world.project_staff, "/volunteers", body, key="iscr-1")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["id"] == enrolment["id"]
    other = {**body, "enrolled_on": "2026-02-02"}
    conflict = post(client, world.project_staff, "/volunteers", other, key="iscr-1")
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    second = post(client, world.project_staff, "/volunteers", other, key="iscr-2")
    assert second.status_code == 409
    assert second.get_json()["error"]["code"] == "volunteer_register"
    assert created(hours("2026-03-02", "ore-1"))["value"] == "18.00"
    end = f"/volunteers/{enrolment['id']}/end"
    early = post(client, world.staff, end, {"ended_on": "2026-01-31"}, key="fine-0")
    assert early.status_code == 422
    assert early.get_json()["error"]["code"] == "invalid_project"
    before_hours = post(client, world.staff, end, {"ended_on": "2026-03-01"}, key="fine-1")
    assert before_hours.status_code == 409
    assert before_hours.get_json()["error"]["code"] == "volunteer_register"
    ended = created(post(client, world.staff, end, {"ended_on": "2026-03-31"}, key="fine-2"), 200)
    assert ended["ended_on"] == "2026-03-31"
    missing = post(client, world.staff, "/volunteers/999/end", {"ended_on": "2026-03-31"}, key="x")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "volunteer_enrolment_not_found"
    before = _entries(ledger)
    assert hours("2026-04-01", "ore-2").status_code == 422
    assert _entries(ledger) == before
    listed = client.get(f"{API}/volunteers", headers=world.project_staff.auth)
    assert listed.status_code == 200
    assert listed.get_json()["volunteers"] == [
        {
            "id": enrolment["id"],
            "person_id": person,
            "name": "Fabio Staff",
            "enrolled_on": "2026-02-01",
            "ended_on": "2026-03-31",
            "activity": "Doposcuola",
        }
    ]


def test_officers_and_partners_neither_read_nor_keep_the_register(client, world, ledger):
    person = ledger.read(lambda s: s.get(User, world.officer.user_id).person_id)
    body = {"person_id": person, "enrolled_on": "2026-02-01"}
    for caller in (world.officer, world.partner_user):
        assert client.get(f"{API}/volunteers", headers=caller.auth).status_code == 403
        assert post(client, caller, "/volunteers", body, key="k").status_code == 403
    listed = client.get(f"{API}/volunteers", headers=world.staff.auth).get_json()
    assert listed == {"volunteers": []}
