"""The bank API: accounts, statement files (multipart or raw body), lines, references,
ignore/book/match with Idempotency-Key, scopes and roles, the upload limit; real files
from ../shared/fixtures/bank through the real use cases on a migrated database."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from sqlalchemy import func, select

from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.reconcile.models import BankAllocation, BankLine, StatementImport
from tests.bank_fixtures import FI_053, FI_054, POSTFINANCE_053, fixture_bytes
from tests.web.test_api import Caller, make_caller

FI = "FI7433010001222090"
CH = "CH2909000000250094239"


def _count(ledger: Ledger, model: object) -> int:
    return ledger.read(lambda s: s.scalar(select(func.count()).select_from(model)))


def _treasurer(ledger: Ledger, clock: FixedClock, **kw: object) -> Caller:
    return make_caller(ledger, clock, "tesoriere@example.org", "Tesoriere", ["treasurer"], **kw)


def _account(
    client: FlaskClient, t: Caller, ledger: Ledger, iban: str, code: str, currency: str = "EUR"
) -> int:
    ledger.create_account(code, "asset", currency=currency)
    response = client.post(
        "/api/v1/bank-accounts",
        json={"iban": iban, "account": code, "name": "Conto principale"},
        headers=t.with_key(f"acct-{iban}"),
    )
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def _upload(
    client: FlaskClient, t: Caller, account_id: int, data: bytes, key: str, query: str = ""
):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/bank-accounts/{account_id}/statements{query}",
        data={"file": (io.BytesIO(data), "estratto.xml")},
        content_type="multipart/form-data",
        headers=t.with_key(key),
    )


def test_accounts_import_reimport_and_lines(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    t = _treasurer(ledger, clock)
    account_id = _account(client, t, ledger, "FI74 3301 0001 2220 90", "assets:bank:fi")
    again = client.post(
        "/api/v1/bank-accounts",
        json={
            "iban": "FI74 3301 0001 2220 90",
            "account": "assets:bank:fi",
            "name": "Conto principale",
        },
        headers=t.with_key("acct-FI74 3301 0001 2220 90"),
    )
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    listed = client.get("/api/v1/bank-accounts", headers=t.auth).get_json()["bank_accounts"]
    assert [(a["iban"], a["account"], a["currency"]) for a in listed] == [
        (FI, "assets:bank:fi", "EUR")
    ]

    first = _upload(client, t, account_id, fixture_bytes(FI_053), "imp-1")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    (st,) = body["statements"]
    assert (
        st["opening"],
        st["closing"],
        st["computed_closing"],
        st["balanced"],
        st["difference"],
    ) == (
        "10000.00",
        "23644.83",
        "23644.83",
        True,
        "0.00",
    )
    assert (body["lines"], body["new"], body["already_imported"]) == (10, 10, [])
    replay = _upload(client, t, account_id, fixture_bytes(FI_053), "imp-1")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["import_id"] == body["import_id"]
    reimport = _upload(client, t, account_id, fixture_bytes(FI_053), "imp-2")
    assert reimport.status_code == 201
    assert reimport.get_json()["new"] == 0 and len(reimport.get_json()["already_imported"]) == 10
    # The raw body works as well as multipart: the camt.054 adds only what is new.
    raw = client.post(
        f"/api/v1/bank-accounts/{account_id}/statements?format=camt054",
        data=fixture_bytes(FI_054),
        content_type="application/xml",
        headers=t.with_key("imp-3"),
    )
    assert raw.status_code == 201, raw.get_json()
    assert (raw.get_json()["new"], len(raw.get_json()["already_imported"])) == (2, 4)
    assert _count(ledger, StatementImport) == 3

    lines = client.get(
        f"/api/v1/bank-accounts/{account_id}/lines?status=unexplained", headers=t.auth
    ).get_json()["lines"]
    assert lines and {x["status"] for x in lines} == {"unexplained"}
    assert all(isinstance(x["amount"], str) for x in lines)
    assert (
        client.get(
            f"/api/v1/bank-accounts/{account_id}/lines?status=ignored", headers=t.auth
        ).get_json()["lines"]
        == []
    )
    bad = client.get(f"/api/v1/bank-accounts/{account_id}/lines?status=odd", headers=t.auth)
    assert bad.status_code == 422
    one = client.get(f"/api/v1/bank-lines/{lines[0]['id']}", headers=t.auth).get_json()
    assert one["raw"] and one["left"] == lines[0]["amount"] and one["allocations"] == []


def test_a_refused_file_writes_nothing_unless_accepted_with_a_reason(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    t = _treasurer(ledger, clock)
    account_id = _account(client, t, ledger, CH, "assets:bank:ch", "CHF")
    refused = _upload(client, t, account_id, fixture_bytes(POSTFINANCE_053), "ch-1")
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "statement_unbalanced" and error["details"]["difference"] == "1537.00"
    assert _count(ledger, BankLine) == 0 and _count(ledger, StatementImport) == 0
    no_reason = _upload(
        client, t, account_id, fixture_bytes(POSTFINANCE_053), "ch-2", "?accept_unbalanced=true"
    )
    assert no_reason.status_code == 422 and _count(ledger, BankLine) == 0
    accepted = _upload(
        client,
        t,
        account_id,
        fixture_bytes(POSTFINANCE_053),
        "ch-3",
        "?accept_unbalanced=true&reason=FWAV",
    )
    assert accepted.status_code == 201
    assert accepted.get_json()["accepted_unbalanced"] is True
    assert accepted.get_json()["statements"][0]["difference"] == "1537.00"
    assert _count(ledger, BankLine) == 5


def test_ignore_book_match_once_per_key_and_conflicts(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    t = _treasurer(ledger, clock)
    account_id = _account(client, t, ledger, FI, "assets:bank:fi")
    ledger.create_account("expenses:bank_fees", "expense")
    assert _upload(client, t, account_id, fixture_bytes(FI_053), "imp").status_code == 201
    lines = client.get(f"/api/v1/bank-accounts/{account_id}/lines", headers=t.auth).get_json()[
        "lines"
    ]
    incoming = [x for x in lines if not x["amount"].startswith("-")]
    outgoing = [x for x in lines if x["amount"].startswith("-")]
    first, second = outgoing[0], outgoing[1]

    url = f"/api/v1/bank-lines/{first['id']}/ignore"
    done = client.post(url, json={"reason": "giroconto interno"}, headers=t.with_key("ign"))
    assert done.status_code == 201 and done.get_json()["status"] == "ignored"
    replay = client.post(url, json={"reason": "giroconto interno"}, headers=t.with_key("ign"))
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    conflict = client.post(url, json={"reason": "altro"}, headers=t.with_key("ign"))
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    assert _count(ledger, BankAllocation) == 1

    booked = client.post(
        f"/api/v1/bank-lines/{second['id']}/book",
        json={"account": "expenses:bank_fees", "narration": "Commissioni"},
        headers=t.with_key("book"),
    )
    assert booked.status_code == 201, booked.get_json()
    assert booked.get_json()["status"] == "booked" and booked.get_json()["left"] == "0.00"
    kinds = client.get(
        f"/api/v1/bank-accounts/{account_id}/lines?status=booked", headers=t.auth
    ).get_json()["lines"]
    assert [x["id"] for x in kinds] == [second["id"]]

    # A match to the entry just booked (any existing record); two parts split the line.
    sequence = int(booked.get_json()["allocations"][0]["record"])
    # The answer prints the entry's number (the allocation keeps its id).
    assert ledger.entry(sequence).metadata == {"bank_line": second["id"]}
    target = incoming[0]
    amount_minor = int(target["amount"].replace(".", ""))
    half = amount_minor // 2
    parts = [
        {"kind": "entry", "record": str(sequence), "amount": f"{half / 100:.2f}"},
        {"kind": "entry", "record": str(sequence), "amount": f"{(amount_minor - half) / 100:.2f}"},
    ]
    matched = client.post(
        f"/api/v1/bank-lines/{target['id']}/match", json={"parts": parts}, headers=t.with_key("m")
    )
    assert matched.status_code == 201, matched.get_json()
    assert matched.get_json()["status"] == "matched" and len(matched.get_json()["allocations"]) == 2
    over = client.post(
        f"/api/v1/bank-lines/{target['id']}/match",
        json={"parts": parts[:1]},
        headers=t.with_key("m2"),
    )
    assert over.status_code == 409 and over.get_json()["error"]["code"] == "over_allocation"
    counts = client.post(f"/api/v1/bank-accounts/{account_id}/match", headers=t.with_key("refs"))
    assert counts.status_code == 201
    assert set(counts.get_json()) == {
        "examined",
        "settled_gifts",
        "repayments",
        "payouts",
        "booked_by_rules",
        "left",
    }


def test_scopes_roles_and_the_upload_limit(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    t = _treasurer(ledger, clock)
    account_id = _account(client, t, ledger, FI, "assets:bank:fi")
    reader = make_caller(
        ledger, clock, "lettore@example.org", "Lettore", ["treasurer"], scopes=("read",)
    )
    refused = _upload(client, reader, account_id, fixture_bytes(FI_053), "r-1")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "insufficient_scope"
    assert (
        client.get(f"/api/v1/bank-accounts/{account_id}/lines", headers=reader.auth).status_code
        == 200
    )
    donor = make_caller(ledger, clock, "donatrice@example.org", "Donatrice", ["donor"])
    assert client.get("/api/v1/bank-accounts", headers=donor.auth).status_code == 403
    assert _upload(client, donor, account_id, fixture_bytes(FI_053), "d-1").status_code == 403
    assert _count(ledger, StatementImport) == 0

    client.application.config["BANK_UPLOAD_MAX_BYTES"] = 2_000
    big = _upload(client, t, account_id, fixture_bytes(FI_053), "big")
    assert big.status_code == 413 and big.get_json()["error"]["code"] == "payload_too_large"
    assert _count(ledger, StatementImport) == 0
    # Above the app's general 1 MB body limit, below the bank's own: the file is read.
    client.application.config["BANK_UPLOAD_MAX_BYTES"] = 10 * 1024 * 1024
    padded = fixture_bytes(FI_053) + b" " * (1024 * 1024 + 10)
    assert _upload(client, t, account_id, padded, "padded").status_code == 201


def test_the_openapi_document_lists_the_bank_routes(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    upload = paths["/api/v1/bank-accounts/{bank_account_id}/statements"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert upload["x-token-scope"] == "money" and "413" in upload["responses"]
    for path, method in [
        ("/api/v1/bank-accounts", "get"),
        ("/api/v1/bank-accounts", "post"),
        ("/api/v1/bank-accounts/{bank_account_id}/lines", "get"),
        ("/api/v1/bank-accounts/{bank_account_id}/match", "post"),
        ("/api/v1/bank-lines/{line_id}", "get"),
        ("/api/v1/bank-lines/{line_id}/ignore", "post"),
        ("/api/v1/bank-lines/{line_id}/book", "post"),
        ("/api/v1/bank-lines/{line_id}/match", "post"),
    ]:
        assert method in paths[path], (path, method)
