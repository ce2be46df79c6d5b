"""`ledger projects`: list (table and JSON), the acts, and the report in every format."""

from __future__ import annotations

import csv
import io
import json

from openpyxl import load_workbook

from ledger.people.service import NewPerson, create_user

PDF = b"%PDF-1.4\n%%EOF\n"


def _users(book):
    def work(session):
        for email in ("prima@example.org", "seconda@example.org"):
            create_user(
                session,
                NewPerson(email=email, full_name="Staff"),
                roles=["treasurer"],
                password=None,
                now=book.clock.now(),
            )

    book.run(work)


def _setup(run, book, tmp_path):
    _users(book)
    assert run("foundations", "create", "Fondazione Cariplo").exit_code == 0
    for name, kind in (
        ("Consorzio Pavese", "cooperative"),
        ("Comune di Pavia", "public_body"),
        ("Tipografia Ticino", "company"),
    ):
        result = run("projects", "create-org", name, "--kind", kind)
        assert result.exit_code == 0, result.output
    result = run(
        "projects",
        "create",
        "Fare #BeneComune",
        "--lead",
        "1",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--partner",
        "2:partner",
        "--partner",
        "3:supplier",
        "--funder",
        "1",
        "--grant",
        "60000.00",
    )
    assert result.output.strip() == "created project 1", result.output
    budget = tmp_path / "budget.json"
    budget.write_text(
        json.dumps(
            [
                {
                    "code": "A.1",
                    "category": "personnel",
                    "title": "Operatori",
                    "amounts": [
                        {"source": "grant", "ref": 1, "amount": "60000.00"},
                        {"source": "partner", "ref": 2, "amount": "30000.00"},
                    ],
                },
                {
                    "code": "B.1",
                    "category": "services",
                    "title": "Servizi",
                    "amounts": [{"source": "own", "amount": "10000.00"}],
                },
            ]
        ),
        encoding="utf-8",
    )
    result = run("projects", "budget-propose", "1", str(budget), "--as", "prima@example.org")
    assert "proposed budget version 1" in result.output, result.output
    refused = run("projects", "budget-approve", "1", "--as", "prima@example.org")
    assert refused.exit_code == 1 and "project_four_eyes" in refused.output
    assert run("projects", "budget-approve", "1", "--as", "seconda@example.org").exit_code == 0
    receipt = tmp_path / "f1.pdf"
    receipt.write_bytes(PDF)
    result = run(
        "projects",
        "expense",
        "1",
        "--supplier",
        "3",
        "--number",
        "F-1",
        "--date",
        "2026-03-01",
        "--net",
        "50000.00",
        "--line",
        "A.1:grant:1:50000.00",
        "--file",
        str(receipt),
        "--key",
        "f1",
    )
    assert result.exit_code == 0, result.output
    result = run(
        "projects",
        "expense",
        "1",
        "--supplier",
        "3",
        "--number",
        "F-2",
        "--date",
        "2026-03-02",
        "--net",
        "40000.00",
        "--line",
        "A.1:partner:2:30000.00",
        "--line",
        "B.1:own:10000.00",
        "--key",
        "f2",
    )
    assert result.exit_code == 0, result.output
    result = run("projects", "grant-received", "1", "24000.00", "--funder", "1", "--key", "a1")
    assert result.exit_code == 0, result.output


def test_projects_list_as_json_names_each_projects_funders(run, book, tmp_path):
    _setup(run, book, tmp_path)
    listed = json.loads(run("projects", "list", "--format", "json").output)
    assert [(p["id"], p["title"], p["funders"]) for p in listed] == [
        (1, "Fare #BeneComune", [{"id": 1, "name": "Fondazione Cariplo"}])
    ]
    table = run("projects", "list").output
    assert "Fare #BeneComune" in table and "1 Fondazione Cariplo" in table


def test_the_report_is_written_in_json_csv_xlsx_and_pdf_with_the_same_grant_due(
    run, book, tmp_path
):
    _setup(run, book, tmp_path)
    common = [
        "projects",
        "report",
        "1",
        "--funder",
        "1",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
    ]
    out = tmp_path / "r.json"
    assert run(*common, "--format", "json", "--output", str(out)).exit_code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["grant"], data["grant_due"], data["total_budget"], data["total_actual"]) == (
        "60000.00",
        "54000.00",
        "100000.00",
        "90000.00",
    )
    assert data["cofinancing_share"] == "0.4444"
    assert data["lines"][0] == {
        "code": "A.1",
        "category": "personnel",
        "title": "Operatori",
        "budget": "90000.00",
        "actual": "80000.00",
        "pct": "88.89",
        "flagged": False,
    }
    assert data["to_give_back"] == "0.00" and data["still_due"] == "30000.00"
    out = tmp_path / "r.csv"
    assert run(*common, "--format", "csv", "--output", str(out)).exit_code == 0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert ["Contributo spettante", "54000.00"] in rows
    out = tmp_path / "r.xlsx"
    assert run(*common, "--format", "xlsx", "--output", str(out)).exit_code == 0
    sheet = load_workbook(out).active
    assert any(r[0].value == "Contributo spettante" for r in sheet.iter_rows())
    out = tmp_path / "r.pdf"
    assert run(*common, "--format", "pdf", "--output", str(out)).exit_code == 0
    assert out.read_bytes().startswith(b"%PDF")


def test_an_over_allocated_expense_is_refused_with_its_code(run, book, tmp_path):
    _setup(run, book, tmp_path)
    result = run(
        "projects",
        "expense",
        "1",
        "--supplier",
        "3",
        "--number",
        "F-3",
        "--date",
        "2026-04-01",
        "--net",
        "1000.00",
        "--line",
        "A.1:grant:1:600.00",
        "--line",
        "A.1:own:500.00",
        "--key",
        "f3",
    )
    assert result.exit_code == 1
    assert "expense_over_allocated" in result.output


def test_a_document_is_charged_further_given_its_proof_and_in_kind_is_recorded(run, book, tmp_path):
    _setup(run, book, tmp_path)
    result = run(
        "projects",
        "expense",
        "1",
        "--supplier",
        "3",
        "--number",
        "F-4",
        "--date",
        "2026-05-01",
        "--net",
        "1000.00",
        "--line",
        "B.1:own:400.00",
        "--key",
        "f4",
    )
    assert result.exit_code == 0, result.output
    expense_entry = result.output.split()[-1]
    document = 3
    refused = run(
        "projects",
        "charge",
        str(document),
        "--project",
        "1",
        "--line",
        "B.1:grant:1:600.01",
        "--key",
        "c1",
    )
    assert refused.exit_code == 1 and "expense_over_allocated" in refused.output
    charged = run(
        "projects",
        "charge",
        str(document),
        "--project",
        "1",
        "--line",
        "B.1:grant:1:600.00",
        "--key",
        "c1",
    )
    assert charged.exit_code == 0, charged.output
    charge_entry = charged.output.split()[-1]
    # The charge's own entry (600.00) cannot be the quietanza of a 1,000.00 invoice.
    short = run("projects", "proof", str(document), "--entry", charge_entry)
    assert short.exit_code == 1 and "paga 600,00" in short.output, short.output
    # The expense's own entry paid the whole invoice from the project's cash.
    entry = expense_entry
    assert run("projects", "proof", str(document), "--entry", entry).exit_code == 0
    again = run("projects", "proof", str(document), "--entry", entry)
    assert again.exit_code == 1 and "proof_of_payment" in again.output
    result = run(
        "projects",
        "in-kind",
        "1",
        "1200.00",
        "--description",
        "Sala civica",
        "--date",
        "2026-05-02",
        "--organisation",
        "2",
        "--key",
        "k1",
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "r.json"
    run(
        "projects",
        "report",
        "1",
        "--funder",
        "1",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--format",
        "json",
        "--output",
        str(out),
    )
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["figurative"]["in_kind"] == "1200.00"
    assert data["figurative"]["in_kind_counted"] is False
    assert data["total_actual"] == "91000.00"
    f4 = next(d for d in data["documents"] if d["number"] == "F-4")
    assert (f4["charged"], f4["charged_to_funder"], f4["proof_of_payment"]) == (
        "1000.00",
        "600.00",
        f"entry:{entry}",
    )


def test_the_register_of_volunteers_is_kept_and_gates_the_hours(run, book, tmp_path):
    _setup(run, book, tmp_path)
    assert run("projects", "rate", "educatore", "18.50", "--from", "2026-01-01").exit_code == 0
    assert run("projects", "volunteers").output.strip() == "no volunteers enrolled"

    def hours(day, key):
        return run(
            "projects",
            "volunteer-hours",
            "1",
            "--person",
            "1",
            "--activity",
            "Doposcuola",
            "--role",
            "educatore",
            "--minutes",
            "90",
            "--date",
            day,
            "--key",
            key,
        )

    refused = hours("2026-03-02", "h0")
    assert refused.exit_code == 1
    assert "invalid_project" in refused.output and "non era iscritta" in refused.output
    enrol = ("projects", "volunteer-enrol", "--person", "1", "--from", "2026-02-01")
    done = run(*enrol, "--activity", "Doposcuola", "--key", "e1")
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "enrolled person 1 as enrolment 1"
    assert run(*enrol, "--activity", "Doposcuola", "--key", "e1").exit_code == 0  # a repeat
    again = run(*enrol, "--key", "e2")
    assert again.exit_code == 1 and "volunteer_register" in again.output
    recorded = hours("2026-03-02", "h1")
    assert recorded.exit_code == 0, recorded.output
    early = run("projects", "volunteer-end", "--person", "1", "--to", "2026-03-01", "--key", "x1")
    assert early.exit_code == 1 and "volunteer_register" in early.output
    before = run(
        "projects", "volunteer-end", "--enrolment", "1", "--to", "2026-01-31", "--key", "x2"
    )
    assert before.exit_code == 1 and "invalid_project" in before.output
    neither = run("projects", "volunteer-end", "--to", "2026-03-31", "--key", "x3")
    assert neither.exit_code != 0
    ended = run("projects", "volunteer-end", "--person", "1", "--to", "2026-03-31", "--key", "x4")
    assert ended.output.strip() == "enrolment 1 ended on 2026-03-31", ended.output
    assert hours("2026-04-01", "h2").exit_code == 1
    listed = json.loads(run("projects", "volunteers", "--format", "json").output)
    assert listed == [
        {
            "id": 1,
            "person_id": 1,
            "name": "Staff",
            "enrolled_on": "2026-02-01",
            "ended_on": "2026-03-31",
            "activity": "Doposcuola",
        }
    ]
    table = run("projects", "volunteers").output
    assert "2026-02-01 - 2026-03-31" in table and "Staff" in table
