"""The bank API of the review queue's helpers: a line's suggestions, a line turned into a
gift and into a loan repayment (one effect per Idempotency-Key, another body a 409,
refusals in the API's error shape), the account's rules added, listed, moved and
disabled before `match` books by them, the account's own preset then a CSV uploaded
without naming one, scopes and roles, and the OpenAPI document."""

from __future__ import annotations

import io
from datetime import date

from flask.testing import FlaskClient
from sqlalchemy import func, select

from ledger.campaigns.models import Donation
from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.funds.models import LoanRepayment
from ledger.reconcile.commands import get_bank_account
from ledger.reconcile.models import BankLine, BankRule
from ledger.reconcile.parsed import ParsedLine
from tests.integration.test_bank_account_preset import EXPORT, SETTINGS
from tests.integration.test_bank_matching import FI, _bank, _import
from tests.integration.test_campaign_commands import new_campaign
from tests.integration.test_fund_commands import fund_with_product, paid_out
from tests.integration.test_transfer_gifts import start
from tests.web.test_api import Caller, make_caller

ON = date(2026, 6, 15)


def _count(ledger: Ledger, model: object) -> int:
    return ledger.read(lambda s: s.scalar(select(func.count()).select_from(model)))  # type: ignore[arg-type]


def _treasurer(ledger: Ledger, clock: FixedClock) -> Caller:
    return make_caller(ledger, clock, "tesoriere@example.org", "Tesoriere", ["treasurer"])


def test_suggestions_and_a_line_turned_into_a_gift_or_a_repayment(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    campaign_id = new_campaign(ledger)
    pending = start(ledger, campaign_id, "25.00", "pledge")
    loan_id = paid_out(ledger, *fund_with_product(ledger))
    _bank(ledger)
    suggested, to_gift, to_repay, outgoing = _import(
        ledger,
        [
            ParsedLine(ON, 2500, "BONIFICO ANNA", "r1"),
            ParsedLine(ON, 1000, "BONIFICO PER L'ORTO", "r2"),
            ParsedLine(ON, 3000, "BONIFICO RATA", "r3"),
            ParsedLine(ON, -250, "COMMISSIONI", "r4"),
        ],
    )
    t = _treasurer(ledger, clock)
    found = client.get(f"/api/v1/bank-lines/{suggested}/suggestions", headers=t.auth)
    assert found.status_code == 200
    first = found.get_json()["suggestions"][0]
    assert (first["kind"], first["record_id"], first["amount"]) == ("gift", str(pending), "25.00")
    assert first["score"] == 60 and first["reasons"] == ["amount_equal", "date_close"]
    assert client.get("/api/v1/bank-lines/999/suggestions", headers=t.auth).status_code == 404

    url = f"/api/v1/bank-lines/{to_gift}/gift"
    body = {"campaign_id": campaign_id, "amount": "10.00"}
    before = _count(ledger, Donation)
    done = client.post(url, json=body, headers=t.with_key("gift-1"))
    assert done.status_code == 201, done.get_json()
    answer = done.get_json()
    assert answer["status"] == "matched" and answer["left"] == "0.00"
    assert answer["donation_status"] == "settled"
    assert answer["allocations"][0]["record"] == str(answer["donation_id"])
    replay = client.post(url, json=body, headers=t.with_key("gift-1"))
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["donation_id"] == answer["donation_id"]
    conflict = client.post(url, json={**body, "amount": "5.00"}, headers=t.with_key("gift-1"))
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    assert _count(ledger, Donation) == before + 1
    refused = client.post(
        f"/api/v1/bank-lines/{outgoing}/gift", json=body, headers=t.with_key("gift-out")
    )
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "line_refused"
    bad = client.post(
        url, json={"campaign_id": campaign_id, "amount": 10}, headers=t.with_key("gift-bad")
    )
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_input"
    assert _count(ledger, Donation) == before + 1

    url = f"/api/v1/bank-lines/{to_repay}/repayment"
    over = client.post(
        url, json={"loan_id": loan_id, "amount": "30.01"}, headers=t.with_key("rep-over")
    )
    assert over.status_code == 409 and over.get_json()["error"]["code"] == "over_allocation"
    assert _count(ledger, LoanRepayment) == 0
    done = client.post(url, json={"loan_id": loan_id}, headers=t.with_key("rep-1"))
    assert done.status_code == 201, done.get_json()
    assert done.get_json()["status"] == "matched" and done.get_json()["repayment_id"]
    replay = client.post(url, json={"loan_id": loan_id}, headers=t.with_key("rep-1"))
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    conflict = client.post(
        url, json={"loan_id": loan_id, "amount": "1.00"}, headers=t.with_key("rep-1")
    )
    assert conflict.status_code == 409
    assert _count(ledger, LoanRepayment) == 1


def test_rules_then_match_books_by_them(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    _bank(ledger)
    ledger.create_account("expenses:bank_fees", "expense")
    fee, stamp = _import(
        ledger,
        [
            ParsedLine(ON, -250, "COMMISSIONI TENUTA CONTO", "f1"),
            ParsedLine(ON, -200, "BOLLO", "f2"),
        ],
    )
    account_id = ledger.read(lambda s: get_bank_account(s, FI).id)
    t = _treasurer(ledger, clock)
    url = f"/api/v1/bank-accounts/{account_id}/rules"
    fees = {
        "name": "Commissioni",
        "text_contains": "commissioni",
        "direction": "out",
        "max": "5.00",
        "book_to": "expenses:bank_fees",
        "narration": "Spese bancarie",
    }
    made = client.post(url, json=fees, headers=t.with_key("rule-1"))
    assert made.status_code == 201, made.get_json()
    rule = made.get_json()
    assert (rule["position"], rule["max"], rule["book_to"], rule["active"]) == (
        1,
        "5.00",
        "expenses:bank_fees",
        True,
    )
    again = client.post(url, json=fees, headers=t.with_key("rule-1"))
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    stamps = {
        "name": "Bollo",
        "text_regex": "^bollo",
        "book_to": "expenses:bank_fees",
        "narration": "Bollo",
        "position": 1,
    }
    second = client.post(url, json=stamps, headers=t.with_key("rule-2")).get_json()
    assert second["position"] == 1
    both = client.post(
        url, json={**stamps, "propose_loan": 1}, headers=t.with_key("rule-bad")
    ).get_json()
    assert both["error"]["code"] == "invalid_input"
    runaway = client.post(
        url,
        json={**stamps, "text_regex": "(a+)+$"},
        headers=t.with_key("rule-runaway"),
    )
    assert runaway.status_code == 422 and runaway.get_json()["error"]["code"] == "invalid_rule"
    assert _count(ledger, BankRule) == 2

    moved = client.post(
        f"/api/v1/bank-rules/{rule['id']}/move", json={"position": 1}, headers=t.with_key("mv")
    )
    assert moved.status_code == 201 and moved.get_json()["position"] == 1
    off = client.post(f"/api/v1/bank-rules/{second['id']}/disable", headers=t.with_key("off"))
    assert off.status_code == 201 and off.get_json()["active"] is False
    listed = client.get(url, headers=t.auth).get_json()["rules"]
    assert [(r["name"], r["position"], r["active"]) for r in listed] == [
        ("Commissioni", 1, True),
        ("Bollo", 2, False),
    ]
    assert client.post("/api/v1/bank-rules/999/disable", headers=t.with_key("x")).status_code == 404

    counts = client.post(f"/api/v1/bank-accounts/{account_id}/match", headers=t.with_key("m"))
    assert counts.status_code == 201 and counts.get_json()["booked_by_rules"] == 1
    lines = client.get(f"/api/v1/bank-accounts/{account_id}/lines", headers=t.auth).get_json()
    assert {x["id"]: x["status"] for x in lines["lines"]} == {
        fee: "booked",
        stamp: "unexplained",
    }


def test_the_accounts_preset_then_a_csv_without_a_named_preset(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    _bank(ledger)
    account_id = ledger.read(lambda s: get_bank_account(s, FI).id)
    t = _treasurer(ledger, clock)
    url = f"/api/v1/bank-accounts/{account_id}/preset"
    wrong = client.post(url, json={**SETTINGS, "date_format": "%d"}, headers=t.with_key("preset-0"))
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] == "invalid_import"
    done = client.post(url, json=SETTINGS, headers=t.with_key("preset-1"))
    assert done.status_code == 201, done.get_json()
    assert done.get_json()["preset"]["text_columns"] == ["Payee", "Details"]
    replay = client.post(url, json=SETTINGS, headers=t.with_key("preset-1"))
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    upload = client.post(
        f"/api/v1/bank-accounts/{account_id}/statements?format=csv",
        data={"file": (io.BytesIO(EXPORT), "movimenti.csv")},
        content_type="multipart/form-data",
        headers=t.with_key("csv"),
    )
    assert upload.status_code == 201, upload.get_json()
    assert upload.get_json()["new"] == 3 and _count(ledger, BankLine) == 3


def test_scopes_roles_and_the_openapi_document(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
) -> None:
    _bank(ledger)
    account_id = ledger.read(lambda s: get_bank_account(s, FI).id)
    (line,) = _import(ledger, [ParsedLine(ON, 1000, "BONIFICO", "r1")])
    reader = make_caller(
        ledger, clock, "lettore@example.org", "Lettore", ["treasurer"], scopes=("read",)
    )
    donor = make_caller(ledger, clock, "donatrice@example.org", "Donatrice", ["donor"])
    posts = [
        (f"/api/v1/bank-lines/{line}/gift", {"campaign_id": 1}),
        (f"/api/v1/bank-lines/{line}/repayment", {"loan_id": 1}),
        (f"/api/v1/bank-accounts/{account_id}/rules", {"name": "x", "book_to": "x"}),
        ("/api/v1/bank-rules/1/move", {"position": 1}),
        ("/api/v1/bank-rules/1/disable", {}),
        (f"/api/v1/bank-accounts/{account_id}/preset", SETTINGS),
    ]
    for path, body in posts:
        refused = client.post(path, json=body, headers=reader.with_key("k"))
        assert refused.status_code == 403, path
        assert refused.get_json()["error"]["code"] == "insufficient_scope", path
        assert client.post(path, json=body, headers=donor.with_key("k")).status_code == 403
    assert _count(ledger, BankRule) == 0 and _count(ledger, Donation) == 0
    for path in [
        f"/api/v1/bank-lines/{line}/suggestions",
        f"/api/v1/bank-accounts/{account_id}/rules",
    ]:
        assert client.get(path, headers=reader.auth).status_code == 200, path
        assert client.get(path, headers=donor.auth).status_code == 403, path

    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in [
        ("/api/v1/bank-lines/{line_id}/suggestions", "get"),
        ("/api/v1/bank-lines/{line_id}/gift", "post"),
        ("/api/v1/bank-lines/{line_id}/repayment", "post"),
        ("/api/v1/bank-accounts/{bank_account_id}/rules", "get"),
        ("/api/v1/bank-accounts/{bank_account_id}/rules", "post"),
        ("/api/v1/bank-rules/{rule_id}/move", "post"),
        ("/api/v1/bank-rules/{rule_id}/disable", "post"),
        ("/api/v1/bank-accounts/{bank_account_id}/preset", "post"),
    ]:
        assert method in paths[path], (path, method)
        if method == "post":
            refs = [p.get("$ref") for p in paths[path][method].get("parameters", [])]
            assert "#/components/parameters/IdempotencyKey" in refs, path
            assert paths[path][method]["x-token-scope"] == "money", path
