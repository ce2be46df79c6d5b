"""The pages of projects (issue 15 part 7): the list and overview, the budget editor with
its four-eyes approval, expense entry with a document's file, money in, volunteer hours (of
the people in the register of volunteers, kept on the same page) and rates, the report to a
funder; who sees what (a foundation officer of another foundation
gets 404 for the project and its document's file, a partner's user reads only its own
organisation's part). The project is the demo's "Fare #BeneComune", loaded through the
use cases; every act goes through the pages and is read back from the books.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date
from typing import Any

import pyotp
import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from ledger.audit.models import AuditEvent
from ledger.commands import Origin
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.grants.models import Foundation
from ledger.grants.service import add_officer, create_foundation
from ledger.projects import commands
from ledger.projects.demo import BENE_COMUNE, FUNDER, load_bene_comune
from ledger.projects.files import MAX_BYTES
from ledger.projects.getters import budget_in_force, version_rows, versions_of
from ledger.projects.models import (
    FigurativeItem,
    Project,
    ProjectCampaign,
    ProjectDocument,
    ProjectOrganisation,
    ProjectReceipt,
    VolunteerEnrolment,
    VolunteerRate,
)
from tests.web.conftest import csrf_token, make_user, sign_in, totp_code

SECRET = pyotp.random_base32()
PDF = b"%PDF-1.4\n% scontrino\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + b"foto-dal-telefono" * 10


def eur(text: str) -> int:
    return Money.parse(text, "EUR").minor


@pytest.fixture
def bene(ledger: Ledger) -> dict[str, Any]:
    """The demo project, two project staff of its lead, a partner's user of Caritas, an
    officer of its funder and an officer of another foundation."""
    clock = ledger.clock
    ledger.run(lambda s: load_bene_comune(s, clock))

    def ids(s: Any) -> dict[str, Any]:
        project = s.scalar(select(Project).where(Project.title == BENE_COMUNE))
        orgs = {o.name: o.id for o in s.scalars(select(ProjectOrganisation))}
        foundation = s.scalar(select(Foundation.id).where(Foundation.name == FUNDER))
        return {
            "project": project.id,
            "lead": project.lead_organisation_id,
            "orgs": orgs,
            "foundation": foundation,
        }

    world = ledger.run(ids)
    users = {
        "staff": make_user(
            ledger, "staff@progetti.example.org", ["project_staff"], totp_secret=SECRET
        ),
        "second": make_user(
            ledger, "seconda@progetti.example.org", ["project_staff"], totp_secret=SECRET
        ),
        "partner": make_user(ledger, "caritas@progetti.example.org", ["partner"]),
        "officer": make_user(
            ledger, "cariplo@progetti.example.org", ["foundation_officer"], totp_secret=SECRET
        ),
        "stranger": make_user(
            ledger, "altrove@progetti.example.org", ["foundation_officer"], totp_secret=SECRET
        ),
        "treasurer": make_user(
            ledger, "tesoreria@progetti.example.org", ["treasurer"], totp_secret=SECRET
        ),
    }
    origin = Origin.command_line()
    for who, organisation in (
        ("staff", world["lead"]),
        ("second", world["lead"]),
        ("partner", world["orgs"]["Caritas Diocesana di Pavia"]),
    ):
        ledger.run(
            lambda s, who=who, organisation=organisation: commands.add_organisation_member(
                s, organisation_id=organisation, user_id=users[who], origin=origin, clock=clock
            )
        )
    ledger.run(lambda s: add_officer(s, world["foundation"], users["officer"], now=clock.now()))

    def elsewhere(s: Any) -> None:
        other = create_foundation(s, name="Fondazione Altrove", now=clock.now())
        add_officer(s, other.id, users["stranger"], now=clock.now())

    ledger.run(elsewhere)
    world["users"] = users
    world["document"] = ledger.read(
        lambda s: s.scalar(
            select(ProjectDocument.id)
            .where(
                ProjectDocument.project_id == world["project"], ProjectDocument.file_id.is_not(None)
            )
            .order_by(ProjectDocument.id)
            .limit(1)
        )
    )
    return world


def as_user(app: Any, ledger: Ledger, who: str, *, step: int = 0) -> FlaskClient:
    client = app.test_client()
    email = {
        "staff": "staff@progetti.example.org",
        "second": "seconda@progetti.example.org",
        "partner": "caritas@progetti.example.org",
        "officer": "cariplo@progetti.example.org",
        "stranger": "altrove@progetti.example.org",
        "treasurer": "tesoreria@progetti.example.org",
    }[who]
    code = None if who == "partner" else totp_code(ledger, SECRET, step)
    response = sign_in(client, email, code=code)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post(client: FlaskClient, page: str, url: str, data: dict[str, Any], **kw: Any) -> Any:
    html = client.get(page).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data}, **kw)


def count(ledger: Ledger, model: Any) -> int:
    return int(ledger.read(lambda s: s.scalar(select(func.count()).select_from(model))))


# ------------------------------------------------------------------ reading
def test_the_list_shows_the_projects_one_may_read_and_nothing_to_another_foundation(
    app, ledger, bene
):
    staff = as_user(app, ledger, "staff").get("/progetti").get_data(as_text=True)
    assert BENE_COMUNE in staff
    stranger = as_user(app, ledger, "stranger").get("/progetti").get_data(as_text=True)
    assert BENE_COMUNE not in stranger
    assert "Nessun progetto da mostrarti." in stranger


def test_the_overview_shows_the_budget_in_force_against_the_actual_with_flags(app, ledger, bene):
    response = as_user(app, ledger, "staff").get(f"/progetti/{bene['project']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="budget-lines"' in html and "A.1" in html
    assert "Fondazione Cariplo" in html and "800.000,00" in html
    assert "Caritas Diocesana di Pavia" in html  # partners
    assert 'id="documents"' in html and "/file" in html
    assert "Nuova spesa" in html  # the staff act on it


def test_an_officer_of_another_foundation_gets_404_for_the_project_and_its_document_file(
    app, ledger, bene
):
    client = as_user(app, ledger, "stranger")
    project, document = bene["project"], bene["document"]
    assert client.get(f"/progetti/{project}").status_code == 404
    assert client.get(f"/progetti/{project}/budget").status_code == 404
    assert client.get(f"/progetti/{project}/rendiconto").status_code == 404
    file = client.get(f"/progetti/{project}/documenti/{document}/file")
    assert file.status_code == 404
    assert b"%PDF" not in file.data


def test_the_funders_officer_reads_the_project_and_downloads_the_document_file(app, ledger, bene):
    client = as_user(app, ledger, "officer")
    assert client.get(f"/progetti/{bene['project']}").status_code == 200
    file = client.get(f"/progetti/{bene['project']}/documenti/{bene['document']}/file")
    assert file.status_code == 200
    assert file.data.startswith(b"%PDF")
    assert file.headers["Content-Disposition"].startswith("attachment")
    # ... but does not act on it.
    assert client.get(f"/progetti/{bene['project']}/spese/nuova").status_code == 403


def test_a_partners_user_sees_only_its_organisations_contributions_and_costs(app, ledger, bene):
    client = as_user(app, ledger, "partner")
    html = client.get(f"/progetti/{bene['project']}").get_data(as_text=True)
    assert 'id="partner-costs"' in html
    assert 'id="budget-lines"' not in html and 'id="documents"' not in html
    assert "Fondazione Cariplo" not in html and "800.000,00" not in html
    caritas = bene["orgs"]["Caritas Diocesana di Pavia"]
    theirs = ledger.read(
        lambda s: list(
            s.scalars(
                select(ProjectDocument.eligible_minor).where(ProjectDocument.partner_id == caritas)
            )
        )
    )
    assert theirs, "the demo has costs borne by Caritas"
    # The municipality's cash contribution is not Caritas's business.
    municipality = bene["orgs"]["Comune di Pavia"]
    cash = ledger.read(
        lambda s: list(
            s.scalars(
                select(ProjectReceipt.amount_minor).where(
                    ProjectReceipt.organisation_id == municipality
                )
            )
        )
    )
    assert cash
    assert "Comune di Pavia" not in html
    # The whole budget and the documents' files stay closed to it.
    assert client.get(f"/progetti/{bene['project']}/budget").status_code == 403
    assert client.get(f"/progetti/{bene['project']}/rendiconto").status_code == 403
    assert client.get(
        f"/progetti/{bene['project']}/documenti/{bene['document']}/file"
    ).status_code in (403, 404)


# ------------------------------------------------------------------ budget
def budget_rows(foundation: int) -> dict[str, str]:
    return {
        "rows-0-code": "Z.1",
        "rows-0-category": "running",
        "rows-0-title": "Utenze della sede",
        "rows-0-source": "grant",
        "rows-0-ref": f"f{foundation}",
        "rows-0-amount": "1.000,00",
        "rows-1-code": "Z.1",
        "rows-1-category": "running",
        "rows-1-title": "Utenze della sede",
        "rows-1-source": "own",
        "rows-1-amount": "500",
    }


def test_a_budget_version_proposed_by_one_person_is_approved_only_by_another(app, ledger, bene):
    project = bene["project"]
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{project}/budget/proponi"
    assert staff.get(page).status_code == 200
    before = ledger.read(lambda s: len(versions_of(s, project)))
    # The demo's budget in force stays, plus a revision with one more line.
    rows = {}

    def in_force(s: Any) -> tuple[int, int, list[Any]]:
        version = budget_in_force(s, project)
        return (
            version.id,
            version.number,
            [
                (line.code, line.category, line.title, a.source, a.source_ref, a.amount_minor)
                for line, amounts in version_rows(s, version.id)
                for a in amounts
            ],
        )

    current_id, current_number, lines = ledger.read(in_force)
    for i, (code, category, title, source, source_ref, minor) in enumerate(lines):
        if True:
            ref = ""
            if source == "grant":
                ref = f"f{bene['foundation']}"
            elif source == "partner":
                ref = f"p{source_ref}"
            rows.update(
                {
                    f"rows-{i}-code": code,
                    f"rows-{i}-category": category,
                    f"rows-{i}-title": title,
                    f"rows-{i}-source": source,
                    f"rows-{i}-ref": ref,
                    f"rows-{i}-amount": f"{minor // 100},{minor % 100:02d}",
                }
            )
    response = post(staff, page, page, {**rows, "note": "rimodulazione"})
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    versions = ledger.read(lambda s: [(v.id, v.status) for v in versions_of(s, project)])
    assert len(versions) == before + 1
    new_id, status = versions[-1]
    assert status == "proposed"
    approve = f"/progetti/{project}/budget/{new_id}/approva"
    refused = post(staff, f"/progetti/{project}/budget/{new_id}", approve, {})
    assert refused.status_code == 409
    assert "serve una seconda persona" in refused.get_data(as_text=True)
    assert ledger.read(lambda s: versions_of(s, project)[-1].status) == "proposed"
    second = as_user(app, ledger, "second")
    done = post(second, f"/progetti/{project}/budget/{new_id}", approve, {})
    assert done.status_code == 303
    assert ledger.read(lambda s: budget_in_force(s, project).id) == new_id
    # The earlier version stays readable.
    old = second.get(f"/progetti/{project}/budget/{current_id}")
    assert old.status_code == 200 and f"Versione {current_number}" in old.get_data(as_text=True)


def test_a_budget_row_without_its_funder_is_shown_on_the_form_and_nothing_is_proposed(
    app, ledger, bene
):
    project = bene["project"]
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{project}/budget/proponi"
    before = ledger.read(lambda s: len(versions_of(s, project)))
    rows = budget_rows(bene["foundation"])
    rows["rows-0-ref"] = ""
    response = post(staff, page, page, rows)
    assert response.status_code == 422
    assert "Scegli il finanziatore del contributo." in response.get_data(as_text=True)
    assert ledger.read(lambda s: len(versions_of(s, project))) == before


def test_the_budget_json_the_cli_takes_can_be_uploaded(app, ledger, bene):
    project = bene["project"]
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{project}/budget/proponi"
    payload = [
        {
            "code": "Z.9",
            "category": "running",
            "title": "Sede",
            "amounts": [{"source": "own", "ref": 0, "amount": "100.00"}],
        }
    ]
    before = ledger.read(lambda s: len(versions_of(s, project)))
    response = post(
        staff,
        page,
        page,
        {"budget_file": (io.BytesIO(json.dumps(payload).encode()), "budget.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    assert ledger.read(lambda s: len(versions_of(s, project))) == before + 1
    broken = post(
        staff,
        page,
        page,
        {"budget_file": (io.BytesIO(b"not json"), "budget.json")},
        content_type="multipart/form-data",
    )
    assert broken.status_code == 422
    assert "Il file non è un budget in JSON leggibile." in broken.get_data(as_text=True)


# ------------------------------------------------------------------ expenses
def expense_data(bene: dict[str, Any], **over: Any) -> dict[str, Any]:
    data = {
        "form_key": uuid.uuid4().hex,
        "kind": "receipt",
        "supplier": str(bene["orgs"]["Tipografia Ticino srl"]),
        "number": "SC-77",
        "issued_on": "2026-06-12",
        "net": "100,00",
        "vat": "22,00",
        "paid_by": "bank",
        "partner": "",
        "entry": "",
        "bank_line": "",
        "allocations-0-line": "B.1",
        "allocations-0-source": f"grant:{bene['foundation']}",
        "allocations-0-amount": "122,00",
    }
    data.update(over)
    return data


def test_the_expense_form_offers_a_phone_photo_and_states_the_upload_limits(app, ledger, bene):
    html = as_user(app, ledger, "staff").get(f"/progetti/{bene['project']}/spese/nuova")
    text = html.get_data(as_text=True)
    assert html.status_code == 200
    assert 'accept="image/*,application/pdf"' in text and 'capture="environment"' in text
    assert f"al massimo {MAX_BYTES // (1024 * 1024)} MB" in text


def test_an_expense_with_a_receipt_photo_is_recorded_and_its_file_read_back(app, ledger, bene):
    project = bene["project"]
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{project}/spese/nuova"
    before = count(ledger, ProjectDocument)
    data = expense_data(bene, file=(io.BytesIO(JPEG), "scontrino.jpg"))
    response = post(staff, page, page, data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    assert count(ledger, ProjectDocument) == before + 1
    document_id, number, eligible = ledger.read(
        lambda s: s.execute(
            select(ProjectDocument.id, ProjectDocument.number, ProjectDocument.eligible_minor)
            .order_by(ProjectDocument.id.desc())
            .limit(1)
        ).one()
    )
    assert number == "SC-77" and eligible == eur("122.00")
    file = staff.get(f"/progetti/{project}/documenti/{document_id}/file")
    assert file.status_code == 200 and file.data == JPEG
    assert file.mimetype == "image/jpeg"
    # The same form sent again (a double tap) records nothing more.
    again = post(
        staff,
        page,
        page,
        {**data, "file": (io.BytesIO(JPEG), "scontrino.jpg")},
        content_type="multipart/form-data",
    )
    assert again.status_code == 303
    assert count(ledger, ProjectDocument) == before + 1


def test_allocations_above_the_document_are_refused_on_the_form_and_nothing_is_written(
    app, ledger, bene
):
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{bene['project']}/spese/nuova"
    before = count(ledger, ProjectDocument)
    data = expense_data(
        bene,
        **{
            "allocations-1-line": "A.1",
            "allocations-1-source": f"grant:{bene['foundation']}",
            "allocations-1-amount": "50,00",
        },
    )
    response = post(staff, page, page, data)
    assert response.status_code == 422
    assert 'role="alert"' in response.get_data(as_text=True) or "error-text" in response.get_data(
        as_text=True
    )
    assert count(ledger, ProjectDocument) == before


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"GIF89a immagine", "foto.gif"), (b"%PDF" + b"x" * MAX_BYTES, "grande.pdf")],
    ids=["a type that is not PDF, JPEG or PNG", "a file above the limit"],
)
def test_a_file_of_another_type_or_too_large_is_refused_on_the_file_field(
    app, ledger, bene, content, name
):
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{bene['project']}/spese/nuova"
    before = count(ledger, ProjectDocument)
    data = expense_data(bene, file=(io.BytesIO(content), name))
    response = post(staff, page, page, data, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="file-error"' in html
    assert count(ledger, ProjectDocument) == before


def test_a_body_far_above_the_upload_limit_is_refused_before_anything_is_read(app, ledger, bene):
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{bene['project']}/spese/nuova"
    data = expense_data(
        bene, file=(io.BytesIO(b"%PDF" + b"x" * (MAX_BYTES + 2 * 1024 * 1024)), "a.pdf")
    )
    response = post(staff, page, page, data, content_type="multipart/form-data")
    assert response.status_code == 413


# ------------------------------------------------------------------ money in
def test_a_funders_tranche_is_booked_once_for_a_form_sent_twice(app, ledger, bene):
    project = bene["project"]
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{project}/entrate"
    assert staff.get(page).status_code == 200
    before = count(ledger, ProjectReceipt)
    data = {
        "form_key": uuid.uuid4().hex,
        "funder": str(bene["foundation"]),
        "kind": "grant_tranche",
        "amount": "25.000,00",
        "received_on": "2026-06-14",
    }
    url = f"/progetti/{project}/entrate/finanziatore"
    assert post(staff, page, url, data).status_code == 303
    assert post(staff, page, url, data).status_code == 303
    assert count(ledger, ProjectReceipt) == before + 1
    last = ledger.read(
        lambda s: tuple(
            s.execute(
                select(ProjectReceipt.kind, ProjectReceipt.amount_minor)
                .order_by(ProjectReceipt.id.desc())
                .limit(1)
            ).one()
        )
    )
    assert last == ("grant_tranche", eur("25000.00"))


def test_a_partners_cash_and_goods_in_kind_are_recorded(app, ledger, bene):
    project = bene["project"]
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{project}/entrate"
    caritas = str(bene["orgs"]["Caritas Diocesana di Pavia"])
    receipts, items = count(ledger, ProjectReceipt), count(ledger, FigurativeItem)
    cash = post(
        staff,
        page,
        f"/progetti/{project}/entrate/partner",
        {
            "form_key": uuid.uuid4().hex,
            "partner": caritas,
            "amount": "1500",
            "received_on": "2026-06-01",
        },
    )
    assert cash.status_code == 303
    kind = post(
        staff,
        page,
        f"/progetti/{project}/entrate/in-natura",
        {
            "form_key": uuid.uuid4().hex,
            "description": "Furgone in prestito",
            "value": "300,00",
            "received_on": "2026-06-02",
            "organisation": caritas,
        },
    )
    assert kind.status_code == 303
    assert count(ledger, ProjectReceipt) == receipts + 1
    assert count(ledger, FigurativeItem) == items + 1
    # A bad amount is shown on its field, nothing written.
    bad = post(
        staff,
        page,
        f"/progetti/{project}/entrate/partner",
        {
            "form_key": uuid.uuid4().hex,
            "partner": caritas,
            "amount": "-3",
            "received_on": "2026-06-01",
        },
    )
    assert bad.status_code == 422
    assert count(ledger, ProjectReceipt) == receipts + 1


def test_linking_an_unknown_campaign_is_refused_on_the_form(app, ledger, bene):
    project = bene["project"]
    treasurer = as_user(app, ledger, "treasurer")
    response = post(
        treasurer,
        f"/progetti/{project}/entrate",
        f"/progetti/{project}/entrate/campagne",
        {"campaign": "999"},
    )
    assert response.status_code in (404, 422)


# ------------------------------------------------------------------ volunteer time
def test_volunteer_hours_are_valued_at_the_rate_of_the_role_and_the_rate_table_grows(
    app, ledger, bene
):
    project = bene["project"]
    rates = "/progetti/tariffe-volontariato"
    before = count(ledger, VolunteerRate)
    added = post(
        as_user(app, ledger, "treasurer"),
        rates,
        rates,
        {"role": "cuoco", "hourly": "14,00", "valid_from": "2026-01-01", "basis": "CCNL turismo"},
    )
    assert added.status_code == 303
    assert count(ledger, VolunteerRate) == before + 1
    staff = as_user(app, ledger, "staff")
    person = ledger.read(
        lambda s: s.scalar(
            select(FigurativeItem.person_id).where(FigurativeItem.person_id.is_not(None)).limit(1)
        )
    )
    page = f"/progetti/{project}/volontariato"
    response = post(
        staff,
        page,
        page,
        {
            "form_key": uuid.uuid4().hex,
            "person": str(person),
            "activity": "Cena solidale",
            "role": "cuoco",
            "hours": "2",
            "minutes": "30",
            "done_on": "2026-06-13",
        },
    )
    assert response.status_code == 303
    item = ledger.read(
        lambda s: tuple(
            s.execute(
                select(FigurativeItem.minutes, FigurativeItem.value_minor)
                .order_by(FigurativeItem.id.desc())
                .limit(1)
            ).one()
        )
    )
    assert item == (150, eur("35.00"))
    unknown = post(
        staff,
        page,
        page,
        {
            "form_key": uuid.uuid4().hex,
            "person": str(person),
            "activity": "Cena",
            "role": "astronauta",
            "hours": "1",
            "minutes": "0",
            "done_on": "2026-06-13",
        },
    )
    assert unknown.status_code == 422


def _journal_head(ledger: Ledger) -> Any:
    from ledger.core.models import LedgerHead

    return ledger.read(lambda s: tuple(s.execute(select(LedgerHead.last_sequence)).one()))


def _new_person(ledger: Ledger, name: str) -> int:
    from ledger.people.models import Person

    def work(s: Any) -> int:
        person = Person(
            full_name=name,
            email=f"{uuid.uuid4().hex[:8]}@volontari.example.org",
            created_at=ledger.clock.now(),
        )
        s.add(person)
        s.flush()
        return int(person.id)

    return int(ledger.run(work))


def test_the_register_of_volunteers_is_kept_on_the_volunteer_page(app, ledger, bene):
    project = bene["project"]
    page = f"/progetti/{project}/volontariato"
    staff = as_user(app, ledger, "staff")
    html = staff.get(page).get_data(as_text=True)
    assert 'id="register"' in html and "Registro dei volontari" in html
    assert "Volontaria Uno" in html and "in corso" in html
    # The hours form offers the people of the register only.
    assert "<option value=" in html and "Volontaria Tre (n. " in html
    for control in ("person", "submit", "form_key", "enrol-person", "enrol-submit"):
        assert html.count(f'id="{control}"') == 1, control  # two forms, no shared id
    newcomer = _new_person(ledger, "Nuova Volontaria")
    assert "Nuova Volontaria" not in html
    before = count(ledger, VolunteerEnrolment)
    enrol = f"{page}/registro"
    form = {"person": str(newcomer), "enrolled_on": "2026-06-01", "activity": "Cene solidali"}
    done = post(staff, page, enrol, {"form_key": uuid.uuid4().hex, **form})
    assert done.status_code == 303, done.get_data(as_text=True)[:2000]
    assert count(ledger, VolunteerEnrolment) == before + 1
    html = staff.get(page).get_data(as_text=True)
    assert "Nuova Volontaria" in html and "Cene solidali" in html
    assert f'<option value="{newcomer}">Nuova Volontaria (n. {newcomer})</option>' in html
    # A second open enrolment is refused on the form, nothing written.
    again = post(staff, page, enrol, {"form_key": uuid.uuid4().hex, **form})
    assert again.status_code == 422
    assert "è già iscritta al registro" in again.get_data(as_text=True)
    assert count(ledger, VolunteerEnrolment) == before + 1
    enrolment = ledger.read(
        lambda s: s.scalar(
            select(VolunteerEnrolment.id).where(VolunteerEnrolment.person_id == newcomer)
        )
    )
    end = f"{page}/registro/{enrolment}/chiudi"
    early = post(staff, page, end, {"ended_on": "2026-05-31"})
    assert early.status_code == 422
    assert "non può precedere il suo inizio" in early.get_data(as_text=True)
    assert 'id="ended_on-' + str(enrolment) + '-error"' in early.get_data(as_text=True)
    for _twice in range(2):  # a double submit ends it once
        ended = post(staff, page, end, {"ended_on": "2026-06-30"})
        assert ended.status_code == 303
    row = ledger.read(lambda s: s.get(VolunteerEnrolment, enrolment).ended_on)
    assert str(row) == "2026-06-30"
    events = ledger.read(
        lambda s: s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "project.end_volunteer")
        )
    )
    assert events == 1
    ledger.run(
        lambda s: commands.set_volunteer_rate(
            s,
            role="cuoca",
            hourly_minor=eur("14.00"),
            valid_from=date(2026, 1, 1),
            origin=Origin.command_line(),
            clock=ledger.clock,
        )
    )

    def hours(day: str, person: int = newcomer) -> Any:
        return post(
            staff,
            page,
            page,
            {
                "form_key": uuid.uuid4().hex,
                "person": str(person),
                "activity": "Cena solidale",
                "role": "cuoca",
                "hours": "2",
                "minutes": "0",
                "done_on": day,
            },
        )

    items, head = count(ledger, FigurativeItem), _journal_head(ledger)
    for day in ("2026-05-31", "2026-07-01"):  # before and after the period
        refused = hours(day)
        assert refused.status_code == 422
        assert "non era iscritta al registro dei volontari" in refused.get_data(as_text=True)
    outsider = _new_person(ledger, "Mai Iscritta")
    tampered = hours("2026-06-10", outsider)  # a person the form never offered
    assert tampered.status_code == 422
    assert (count(ledger, FigurativeItem), _journal_head(ledger)) == (items, head)
    assert hours("2026-06-30").status_code == 303
    assert count(ledger, FigurativeItem) == items + 1


def test_the_register_speaks_english_and_so_do_its_refusals(app, ledger, bene):
    client = as_user(app, ledger, "staff")
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/language", data={"lang": "en", "csrf_token": token}).status_code == 302
    page = f"/progetti/{bene['project']}/volontariato"
    html = client.get(page).get_data(as_text=True)
    assert "Register of volunteers" in html and "End the enrolment" in html
    assert "Enrol in the register" in html and "in progress" in html
    enrolled = ledger.read(
        lambda s: s.scalar(select(VolunteerEnrolment.person_id).order_by(VolunteerEnrolment.id))
    )
    again = post(
        client,
        page,
        f"{page}/registro",
        {"form_key": uuid.uuid4().hex, "person": str(enrolled), "enrolled_on": "2026-06-01"},
    )
    assert again.status_code == 422
    assert "already in the register of volunteers" in again.get_data(as_text=True)


def test_the_register_is_kept_by_who_acts_on_the_project_only(app, ledger, bene):
    project = bene["project"]
    person = _new_person(ledger, "Altra Persona")
    before = count(ledger, VolunteerEnrolment)
    for who in ("officer", "partner"):
        client = as_user(app, ledger, who)
        html = client.get(f"/progetti/{project}").get_data(as_text=True)
        response = client.post(
            f"/progetti/{project}/volontariato/registro",
            data={
                "csrf_token": csrf_token(html),
                "form_key": uuid.uuid4().hex,
                "person": str(person),
                "enrolled_on": "2026-06-01",
            },
        )
        assert response.status_code in (403, 404), who
        assert client.get(f"/progetti/{project}/volontariato").status_code in (403, 404)
    assert count(ledger, VolunteerEnrolment) == before


# ------------------------------------------------------------------ report
@pytest.mark.parametrize("fmt", ["pdf", "csv", "xlsx", "json"])
def test_the_funders_officer_downloads_the_report_for_a_period(app, ledger, bene, fmt):
    client = as_user(app, ledger, "officer")
    project = bene["project"]
    form = client.get(f"/progetti/{project}/rendiconto")
    assert form.status_code == 200
    links = form.get_data(as_text=True)
    assert f"format={fmt}" in links and f"funder={bene['foundation']}" in links
    response = client.get(
        f"/progetti/{project}/rendiconto",
        query_string={
            "funder": bene["foundation"],
            "from": "2026-01-01",
            "to": "2026-06-15",
            "format": fmt,
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert "attachment" in response.headers["Content-Disposition"]
    if fmt == "pdf":
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
        assert BENE_COMUNE in text
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert any("A.1" in row for row in rows)
    elif fmt == "xlsx":
        book = load_workbook(io.BytesIO(response.data))
        assert any("A.1" == c.value for ws in book.worksheets for r in ws.iter_rows() for c in r)
    else:
        data = json.loads(response.data)
        assert {"lines", "total_budget", "grant_due"} <= set(data)


def test_a_report_period_ending_before_it_starts_is_shown_on_the_form(app, ledger, bene):
    client = as_user(app, ledger, "officer")
    response = client.get(
        f"/progetti/{bene['project']}/rendiconto",
        query_string={
            "funder": bene["foundation"],
            "from": "2026-06-01",
            "to": "2026-01-01",
            "format": "csv",
        },
    )
    assert response.status_code == 422
    assert "Il periodo finisce prima di cominciare." in response.get_data(as_text=True)


# ------------------------------------------------------------------ languages
def test_the_pages_speak_italian_and_english(app, ledger, bene):
    client = as_user(app, ledger, "staff")
    italian = client.get(f"/progetti/{bene['project']}/spese/nuova").get_data(as_text=True)
    assert '<html lang="it">' in italian and "Nuova spesa" in italian
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/language", data={"lang": "en", "csrf_token": token}).status_code == 302
    for url in (
        "/progetti",
        f"/progetti/{bene['project']}",
        f"/progetti/{bene['project']}/budget",
        f"/progetti/{bene['project']}/spese/nuova",
        f"/progetti/{bene['project']}/entrate",
        f"/progetti/{bene['project']}/volontariato",
        f"/progetti/{bene['project']}/rendiconto",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert '<html lang="en">' in response.get_data(as_text=True), url


def test_a_linked_campaign_is_paid_out_to_the_project_by_the_treasury_not_by_its_proposer(
    app, ledger, bene
):
    from datetime import timedelta

    from ledger.campaigns import commands as campaign_commands
    from tests.integration.test_campaign_commands import TREASURER, cash_gift, new_campaign

    project = bene["project"]
    campaign = new_campaign(ledger, goal="100.00")
    cash_gift(ledger, campaign, "150.00", "gift-pagine")
    money = f"/progetti/{project}/entrate"
    link = f"/progetti/{project}/entrate/campagne"
    # The attack (security review, 2026-12-07): a project's own staff linked any
    # campaign of the instance to their project, and two colleagues proposed and paid
    # its escrow and matches into it. Linking and paying are the treasury's.
    staff = as_user(app, ledger, "staff")
    assert post(staff, money, link, {"campaign": str(campaign)}).status_code == 403
    assert ledger.read(lambda s: s.get(ProjectCampaign, campaign)) is None
    assert f'action="{link}"' not in staff.get(money).get_data(as_text=True)
    treasurer = as_user(app, ledger, "treasurer")
    linked = post(treasurer, money, link, {"campaign": str(campaign)})
    assert linked.status_code == 303, linked.get_data(as_text=True)[:2000]
    ledger.clock.instant += timedelta(days=31)
    ledger.run(
        lambda s: campaign_commands.close_campaign(
            s, campaign, origin=TREASURER, clock=ledger.clock
        )
    )
    staff = as_user(app, ledger, "staff")
    proposed = post(staff, money, f"/progetti/{project}/entrate/campagne/{campaign}/proponi", {})
    assert proposed.status_code == 303, proposed.get_data(as_text=True)[:2000]
    receipt = ledger.read(
        lambda s: s.scalar(select(ProjectReceipt.id).where(ProjectReceipt.campaign_id == campaign))
    )
    pay = f"/progetti/{project}/entrate/versamenti/{receipt}/paga"
    assert post(staff, money, pay, {}).status_code == 403
    assert post(as_user(app, ledger, "second"), money, pay, {}).status_code == 403
    status = ledger.read(lambda s: s.get(ProjectReceipt, receipt).status)
    assert status == "proposed"
    treasurer = as_user(app, ledger, "treasurer", step=1)
    assert post(treasurer, money, pay, {}).status_code == 303
    paid = ledger.read(
        lambda s: (
            s.get(ProjectReceipt, receipt).status,
            s.get(ProjectReceipt, receipt).amount_minor,
        )
    )
    assert paid == ("paid", eur("150.00"))


def test_project_staff_cannot_change_the_volunteer_rate_table(app, ledger, bene):
    # The attack: project staff raised a role's rate, inflating every project's
    # volunteer co-financing in the funders' reports.
    rates = "/progetti/tariffe-volontariato"
    staff = as_user(app, ledger, "staff")
    before = count(ledger, VolunteerRate)
    page = staff.get(rates)
    assert page.status_code == 200
    assert 'name="hourly"' not in page.get_data(as_text=True)
    response = staff.post(
        rates,
        data={
            "csrf_token": csrf_token(
                staff.get(f"/progetti/{bene['project']}").get_data(as_text=True)
            ),
            "role": "cuoco",
            "hourly": "999,00",
            "valid_from": "2026-01-01",
        },
    )
    assert response.status_code == 403
    assert count(ledger, VolunteerRate) == before


def test_project_staff_of_another_organisation_cannot_record_an_expense_on_the_project(
    app, ledger, bene
):
    # The attack: a project_staff user of an unrelated organisation posts the expense form
    # (with a valid CSRF token of a page of its own) to a project it does not lead.
    outsider = make_user(
        ledger, "altra-org@progetti.example.org", ["project_staff"], totp_secret=SECRET
    )
    clock = ledger.clock

    def own_organisation(s: Any) -> None:
        org = commands.create_organisation(
            s,
            name="Altra Cooperativa",
            kind="cooperative",
            origin=Origin.command_line(),
            clock=clock,
        ).value
        commands.add_organisation_member(
            s, organisation_id=org.id, user_id=outsider, origin=Origin.command_line(), clock=clock
        )

    ledger.run(own_organisation)
    client = app.test_client()
    assert (
        sign_in(
            client, "altra-org@progetti.example.org", code=totp_code(ledger, SECRET)
        ).status_code
        == 302
    )
    project = bene["project"]
    before = count(ledger, ProjectDocument)
    response = post(client, "/progetti", f"/progetti/{project}/spese/nuova", expense_data(bene))
    assert response.status_code == 404
    assert client.get(f"/progetti/{project}").status_code == 404
    assert BENE_COMUNE not in client.get("/progetti").get_data(as_text=True)
    assert count(ledger, ProjectDocument) == before


def test_a_tampered_choice_is_refused_on_the_form_and_nothing_is_written(app, ledger, bene):
    staff = as_user(app, ledger, "staff")
    page = f"/progetti/{bene['project']}/spese/nuova"
    before = count(ledger, ProjectDocument)
    response = post(staff, page, page, expense_data(bene, partner="nessuno"))
    assert response.status_code == 422
    assert "Una scelta del modulo non è valida" in response.get_data(as_text=True)
    assert count(ledger, ProjectDocument) == before
