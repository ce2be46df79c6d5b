"""The `ledger` command line, run as an operator would, on SQLite and PostgreSQL.

Every test drives `ledger.cli.cli` through click's CliRunner with `--database`
pointing at a fresh migrated database, and checks both what the command prints
and what the book holds afterwards. `catch_exceptions=False` makes any
traceback a test failure: bad input must end in a clean message and exit code.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text

from ledger.cli import cli
from ledger.core.balances import CurrencyTotal, currency_totals
from ledger.core.clock import FixedClock
from ledger.core.holds import HoldSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.core.storage import make_engine
from ledger.demo import DEMO_PASSWORD, DEMO_USERS
from ledger.funds.demo_calls import DEMO_CALL_EMAILS
from ledger.people.models import ROLES
from ledger.people.service import authenticate
from ledger.projects.demo import DEMO_PROJECT_EMAILS
from tests.integration.conftest import audit_log


@pytest.fixture
def accounts(run) -> None:  # type: ignore[no-untyped-def]
    for args in (
        ["assets:bank:intesa", "--type", "asset", "--no-overdraft", "--name", "Banca"],
        ["assets:stripe:clearing", "--type", "asset"],
        ["income:donations", "--type", "income"],
        ["expenses:fees:stripe", "--type", "expense"],
        ["assets:bank:tokyo", "--type", "asset", "--currency", "JPY"],
        ["income:donations:jpy", "--type", "income", "--currency", "JPY"],
    ):
        result = run("accounts", "create", *args)
        assert result.exit_code == 0, result.output


# The demo's own people (a call's proponents and reviewers, the projects' staff), never
# with a password: every demo book holds them.
DEMO_PEOPLE = DEMO_CALL_EMAILS | DEMO_PROJECT_EMAILS


def entry(key: str, amount: str = "25.00", *, date: str = "2026-04-03", **extra: object) -> dict:
    return {
        "idempotency_key": key,
        "kind": "donation",
        "effective_date": date,
        "narration": "Donazione con bonifico",
        "postings": [
            {"account": "assets:bank:intesa", "amount": amount},
            {"account": "income:donations", "amount": "-" + amount},
        ],
        **extra,
    }


def lines(result: Result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def posted(book: Ledger, code: str) -> int:
    return book.balance(code).posted


def user_count(book: Ledger) -> int:
    return book.read(lambda s: len(s.execute(text("SELECT id FROM users")).all()))


# --------------------------------------------------------------------------- accounts
def test_accounts_are_created_and_listed_as_a_table_and_as_json(run, accounts):
    table = run("accounts", "list")
    assert table.exit_code == 0
    assert "assets:bank:intesa" in table.stdout and "no-overdraft" in table.stdout
    listed = json.loads(run("accounts", "list", "--format", "json").stdout)
    by_code = {a["code"]: a for a in listed}
    assert by_code["assets:bank:intesa"] == {
        "code": "assets:bank:intesa",
        "name": "Banca",
        "type": "asset",
        "currency": "EUR",
        "no_overdraft": True,
    }
    assert by_code["income:donations:jpy"]["currency"] == "JPY"
    assert by_code["income:donations"]["no_overdraft"] is False
    assert [a["code"] for a in listed] == sorted(by_code)


def test_creating_an_existing_account_exits_1_with_the_account_exists_code(run, accounts):
    result = run("accounts", "create", "income:donations", "--type", "income")
    assert result.exit_code == 1
    assert "account_exists" in result.stderr


def test_an_invalid_account_code_or_type_is_refused_without_a_traceback(run):
    bad_code = run("accounts", "create", "Assets Bank", "--type", "asset")
    assert bad_code.exit_code == 1 and "invalid_account" in bad_code.stderr
    bad_type = run("accounts", "create", "assets:x", "--type", "cash")
    assert bad_type.exit_code == 2 and "cash" in bad_type.stderr
    bad_currency = run("accounts", "create", "assets:x", "--type", "asset", "--currency", "XYZ")
    assert bad_currency.exit_code == 1 and "unknown_currency" in bad_currency.stderr


# --------------------------------------------------------------------------- post
def test_a_pretty_printed_entry_is_posted_once_and_a_repost_prints_existing(run, accounts, book):
    document = json.dumps(entry("don-1", metadata={"donor_party_id": 7}), indent=2)
    first = run("post", input=document)
    assert first.exit_code == 0, first.output
    [created] = lines(first)
    assert created["status"] == "created" and created["sequence"] == 1
    again = run("post", input=document)
    assert again.exit_code == 0
    assert lines(again) == [{**created, "status": "existing"}]
    assert posted(book, "assets:bank:intesa") == 2500
    assert book.entry(1).metadata == {"donor_party_id": 7}


def test_json_lines_are_posted_one_transaction_each_and_a_bad_line_does_not_stop_the_rest(
    run, accounts, book
):
    good_1 = json.dumps(entry("jl-1", "10.00"))
    bad_json = '{"idempotency_key": "jl-2", "kind": '
    number_amount = json.dumps(entry("jl-3")).replace('"25.00"', "25.00", 1)
    good_2 = json.dumps(entry("jl-4", "0.05"))
    text_in = "\n".join([good_1, bad_json, "", number_amount, good_2]) + "\n"

    result = run("post", input=text_in)

    assert result.exit_code == 1
    out = lines(result)
    assert out[0] == {"sequence": 1, "id": out[0]["id"], "status": "created"}
    assert out[1]["line"] == 2 and out[1]["error"]["code"] == "invalid_json"
    assert out[2]["line"] == 4 and out[2]["error"]["code"] == "invalid_amount"
    assert out[3]["sequence"] == 2 and out[3]["status"] == "created"
    assert posted(book, "assets:bank:intesa") == 1005
    assert book.verify().ok


def test_a_json_number_amount_is_refused_with_a_stable_code_and_writes_nothing(run, accounts, book):
    document = json.dumps(entry("num-1")).replace('"-25.00"', "-25.0")
    result = run("post", input=document)
    assert result.exit_code == 1
    [error] = lines(result)
    assert error["line"] == 1
    assert error["error"]["code"] == "invalid_amount"
    assert "decimal string" in error["error"]["message"]
    assert posted(book, "income:donations") == 0
    assert book.verify().last_sequence == 0


def test_more_decimals_than_the_currency_has_are_refused(run, accounts, book):
    eur = run("post", input=json.dumps(entry("dec-1", "12.345")))
    assert eur.exit_code == 1
    assert lines(eur)[0]["error"]["code"] == "invalid_amount"
    yen = {
        "idempotency_key": "dec-2",
        "kind": "donation",
        "effective_date": "2026-04-03",
        "postings": [
            {"account": "assets:bank:tokyo", "amount": "100.5"},
            {"account": "income:donations:jpy", "amount": "-100.5"},
        ],
    }
    refused = run("post", input=json.dumps(yen))
    assert lines(refused)[0]["error"]["code"] == "invalid_amount"
    yen["postings"] = [
        {"account": "assets:bank:tokyo", "amount": "1500"},
        {"account": "income:donations:jpy", "amount": "-1500", "currency": "JPY"},
    ]
    assert run("post", input=json.dumps(yen)).exit_code == 0
    assert posted(book, "assets:bank:tokyo") == 1500
    assert posted(book, "assets:bank:intesa") == 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda e: e["postings"][1].update(amount="-24.00"), "unbalanced_entry"),
        (lambda e: e["postings"][0].update(currency="USD"), "currency_mismatch"),
        (lambda e: e["postings"][0].update(account="assets:nowhere"), "account_not_found"),
        (lambda e: e.update(effective_date="03/04/2026"), "invalid_entry"),
        (lambda e: e.update(effective_on="2026-04-03"), "invalid_entry"),
        (lambda e: e.update(kind="Donation!"), "invalid_entry"),
        (lambda e: e.pop("idempotency_key"), "invalid_entry"),
        (lambda e: e.update(metadata={"share": 0.5}), "invalid_entry"),
    ],
    ids=["unbalanced", "currency", "account", "date", "unknown-field", "kind", "key", "float"],
)
def test_an_invalid_entry_is_refused_with_its_stable_code(run, accounts, book, change, code):
    document = entry("bad-1")
    change(document)
    result = run("post", input=json.dumps(document))
    assert result.exit_code == 1
    [error] = lines(result)
    assert error["error"]["code"] == code
    assert book.verify().last_sequence == 0


def test_a_reused_key_with_a_different_request_is_a_conflict_and_changes_nothing(
    run, accounts, book
):
    assert run("post", input=json.dumps(entry("k-1", "10.00"))).exit_code == 0
    conflict = run("post", input=json.dumps(entry("k-1", "99.00")))
    assert conflict.exit_code == 1
    assert lines(conflict)[0]["error"]["code"] == "idempotency_conflict"
    assert posted(book, "assets:bank:intesa") == 1000


def test_post_reads_a_file_and_a_broken_pretty_printed_document_is_one_error(
    run, accounts, book, tmp_path: Path
):
    path = tmp_path / "entries.jsonl"
    path.write_text("\n".join(json.dumps(entry(f"f-{n}", "1.00")) for n in range(3)) + "\n")
    from_file = run("post", str(path))
    assert from_file.exit_code == 0
    assert [r["sequence"] for r in lines(from_file)] == [1, 2, 3]
    broken = json.dumps(entry("f-9"), indent=2).replace('"kind"', "kind", 1)
    result = run("post", input=broken)
    assert result.exit_code == 1
    [error] = lines(result)
    assert error["error"]["code"] == "invalid_json" and error["line"] == 3
    assert run("post", input="\n\n").exit_code == 1
    assert posted(book, "assets:bank:intesa") == 300


def test_a_line_with_a_duplicate_key_is_refused_alone_and_a_non_utf8_file_cleanly(
    run, accounts, book, tmp_path: Path
):
    duplicate = json.dumps(entry("dup-1")).replace(
        '"amount": "25.00"}', '"amount": "25.00", "amount": "2500.00"}', 1
    )
    result = run("post", input=duplicate + "\n" + json.dumps(entry("dup-2")) + "\n")
    assert result.exit_code == 1
    first, second = lines(result)
    assert first["line"] == 1 and first["error"]["code"] == "invalid_json"
    assert "duplicate key 'amount'" in first["error"]["message"]
    assert second["status"] == "created"
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(
        json.dumps(entry("l-1", narration="caffè"), ensure_ascii=False)
        .encode()
        .replace("è".encode(), "è".encode("latin-1"))
    )
    refused = run("post", str(latin1))
    assert refused.exit_code == 1 and "not UTF-8" in refused.stderr
    assert posted(book, "assets:bank:intesa") == 2500


def test_an_overdraft_of_a_no_overdraft_account_is_refused(run, accounts, book):
    spend = entry("spend-1")
    spend["postings"] = [
        {"account": "assets:bank:intesa", "amount": "-5.00"},
        {"account": "expenses:fees:stripe", "amount": "5.00"},
    ]
    result = run("post", input=json.dumps(spend))
    assert result.exit_code == 1
    assert lines(result)[0]["error"]["code"] == "insufficient_funds"
    assert posted(book, "assets:bank:intesa") == 0


# --------------------------------------------------------------------------- reverse, show
def test_reverse_posts_the_exact_opposite_once(run, accounts, book):
    run("post", input=json.dumps(entry("r-1", "40.00")))
    result = run("reverse", "1", "--idempotency-key", "rev-1", "--narration", "Storno")
    assert result.exit_code == 0
    [line] = lines(result)
    assert line["sequence"] == 2 and line["status"] == "created"
    assert run(
        "reverse", "1", "--idempotency-key", "rev-1", "--narration", "Storno"
    ).stdout == result.stdout.replace("created", "existing")
    twice = run("reverse", "1", "--idempotency-key", "rev-2")
    assert twice.exit_code == 1 and "already_reversed" in twice.stderr
    missing = run("reverse", "99", "--idempotency-key", "rev-3")
    assert missing.exit_code == 1 and "entry_not_found" in missing.stderr
    assert posted(book, "assets:bank:intesa") == 0
    assert book.entry(2).reverses_entry_id == book.entry(1).id


def test_entries_show_prints_the_entry_with_decimal_string_amounts(run, accounts):
    run("post", input=json.dumps(entry("s-1", "12.50")))
    shown = json.loads(run("entries", "show", "1", "--format", "json").stdout)
    assert shown["idempotency_key"] == "s-1"
    assert shown["postings"] == [
        {"account": "assets:bank:intesa", "currency": "EUR", "amount": "12.50"},
        {"account": "income:donations", "currency": "EUR", "amount": "-12.50"},
    ]
    as_text = run("entries", "show", "1").stdout
    assert "12.50" in as_text and "Donazione con bonifico" in as_text


# --------------------------------------------------------------------------- balances
def test_balance_prints_posted_pending_and_available_as_decimal_strings(run, accounts, book):
    run(
        "post",
        input="\n".join(
            [
                json.dumps(entry("b-1", "100.00", date="2026-03-10")),
                json.dumps(entry("b-2", "20.50", date="2026-05-10")),
            ]
        ),
    )
    hold_clock = FixedClock(datetime.now(UTC))
    Ledger(book.engine, clock=hold_clock).hold(
        HoldSpec(
            "h-1",
            "match_release",
            "assets:stripe:clearing",
            "assets:bank:intesa",
            Money.parse("30.00", "EUR"),
        )
    )
    now = json.loads(run("balance", "assets:bank:intesa", "--format", "json").stdout)
    assert now == {
        "account": "assets:bank:intesa",
        "currency": "EUR",
        "posted": "120.50",
        "pending": "30.00",
        "available": "90.50",
    }
    march = json.loads(
        run("balance", "assets:bank:intesa", "--as-of", "2026-03-31", "--format", "json").stdout
    )
    assert march["posted"] == "100.00"
    income = json.loads(run("balance", "income:donations", "--format", "json").stdout)
    assert income["posted"] == "120.50"
    table = run("balance", "assets:bank:intesa")
    assert "available" in table.stdout and "90.50" in table.stdout
    assert run("balance", "assets:none").exit_code == 1
    assert run("balance", "assets:bank:intesa", "--as-of", "31/03/2026").exit_code == 2


def test_trial_balance_debits_equal_credits_in_table_json_and_csv(run, accounts):
    run(
        "post",
        input="\n".join(
            [
                json.dumps(entry("t-1", "100.00", date="2026-03-10")),
                json.dumps(
                    {
                        "idempotency_key": "t-2",
                        "kind": "donation",
                        "effective_date": "2026-04-01",
                        "postings": [
                            {"account": "assets:stripe:clearing", "amount": "48.30"},
                            {"account": "expenses:fees:stripe", "amount": "1.70"},
                            {"account": "income:donations", "amount": "-50.00"},
                        ],
                    }
                ),
                json.dumps(
                    {
                        "idempotency_key": "t-3",
                        "kind": "donation",
                        "effective_date": "2026-04-02",
                        "postings": [
                            {"account": "assets:bank:tokyo", "amount": "5000"},
                            {"account": "income:donations:jpy", "amount": "-5000"},
                        ],
                    }
                ),
            ]
        ),
    )
    data = json.loads(run("trial-balance", "--format", "json").stdout)
    assert data["totals"] == {
        "EUR": {"debit": "150.00", "credit": "150.00"},
        "JPY": {"debit": "5000", "credit": "5000"},
    }
    by_code = {ln["account"]: ln for ln in data["lines"]}
    assert by_code["income:donations"]["credit"] == "150.00"
    assert by_code["expenses:fees:stripe"]["debit"] == "1.70"
    march = json.loads(run("trial-balance", "--as-of", "2026-03-31", "--format", "json").stdout)
    assert march["totals"]["EUR"] == {"debit": "100.00", "credit": "100.00"}
    rows = list(csv.DictReader(io.StringIO(run("trial-balance", "--format", "csv").stdout)))
    totals = [r for r in rows if r["account"] == "total"]
    assert {(r["currency"], r["debit"], r["credit"]) for r in totals} == {
        ("EUR", "150.00", "150.00"),
        ("JPY", "5000", "5000"),
    }
    table = run("trial-balance").stdout
    assert "income:donations" in table and "150.00" in table


# --------------------------------------------------------------------------- periods, holds
def test_closing_a_period_refuses_entries_dated_into_it(run, accounts, book):
    closed = run("periods", "close", "2026-03")
    assert closed.exit_code == 0 and "2026-03-31" in closed.stdout
    assert "already closed" in run("periods", "close", "2026-03").stdout
    late = run("post", input=json.dumps(entry("p-1", date="2026-03-31")))
    assert late.exit_code == 1
    assert lines(late)[0]["error"]["code"] == "period_closed"
    assert run("post", input=json.dumps(entry("p-2", date="2026-04-01"))).exit_code == 0
    bad = run("periods", "close", "March")
    assert bad.exit_code == 1 and "invalid_period" in bad.stderr
    future = run("periods", "close", "2099-01")
    assert future.exit_code == 1 and "invalid_period" in future.stderr
    assert posted(book, "assets:bank:intesa") == 2500


def test_holds_expire_releases_holds_past_their_deadline(run, accounts, book):
    run("post", input=json.dumps(entry("e-1", "50.00")))
    earlier = FixedClock(datetime.now(UTC) - timedelta(hours=2))
    Ledger(book.engine, clock=earlier).hold(
        HoldSpec(
            "h-exp",
            "match_release",
            "assets:stripe:clearing",
            "assets:bank:intesa",
            Money.parse("20.00", "EUR"),
            expires_at=earlier.instant + timedelta(hours=1),
        )
    )
    assert book.balance("assets:bank:intesa").available == 3000
    listed = json.loads(run("holds", "list", "--format", "json").stdout)
    assert [h["amount"] for h in listed] == ["20.00"]
    result = run("holds", "expire")
    assert result.exit_code == 0 and "expired 1 hold" in result.stdout
    assert "expired 0 holds" in run("holds", "expire").stdout
    assert book.balance("assets:bank:intesa").available == 5000
    assert json.loads(run("holds", "list", "--format", "json").stdout) == []


# --------------------------------------------------------------------------- verify
def _tamper_with_a_posting(db_url: str, backend: str, sequence: int) -> None:
    """Change one posted amount behind the engine's back, guards switched off."""
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            entry_id = conn.execute(
                text("SELECT id FROM journal_entries WHERE sequence = :s"), {"s": sequence}
            ).scalar_one()
            if backend == "postgresql":
                conn.execute(text("ALTER TABLE postings DISABLE TRIGGER USER"))
            else:
                conn.execute(text("DROP TRIGGER postings_no_update"))
            conn.execute(
                text(
                    "UPDATE postings SET amount_minor = amount_minor + 1 "
                    "WHERE entry_id = :e AND leg = 0"
                ),
                {"e": entry_id},
            )
            if backend == "postgresql":
                conn.execute(text("ALTER TABLE postings ENABLE TRIGGER USER"))
    finally:
        engine.dispose()


def test_verify_exits_0_on_a_sound_book_and_1_naming_the_tampered_sequence(
    run, accounts, db_url, backend
):
    run("post", input="\n".join(json.dumps(entry(f"v-{n}", "10.00")) for n in range(3)))
    sound = run("verify")
    assert sound.exit_code == 0 and sound.stdout.startswith("ok: 3 entries checked")
    assert json.loads(run("verify", "--format", "json").stdout)["ok"] is True

    _tamper_with_a_posting(db_url, backend, 2)

    failed = run("verify")
    assert failed.exit_code == 1
    assert "first failure at sequence 2: I1" in failed.stdout
    report = json.loads(run("verify", "--format", "json").stdout)
    assert report["ok"] is False
    assert (report["first"]["sequence"], report["first"]["invariant"]) == (2, "I1")


# --------------------------------------------------------------------------- export
def test_export_writes_csv_rows_per_posting_and_a_beancount_file(run, accounts, tmp_path):
    run(
        "post",
        input="\n".join(
            [
                json.dumps(entry("x-1", "10.00")),
                json.dumps(entry("x-2", "2.50", narration='a "quoted", b')),
            ]
        ),
    )
    run("reverse", "1", "--idempotency-key", "x-rev")
    result = run("export", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 6
    assert rows[0] == {
        "sequence": "1",
        "entry_id": rows[0]["entry_id"],
        "effective_date": "2026-04-03",
        "kind": "donation",
        "narration": "Donazione con bonifico",
        "account": "assets:bank:intesa",
        "currency": "EUR",
        "amount": "10.00",
        "reverses_sequence": "",
    }
    assert rows[2]["narration"] == 'a "quoted", b'
    assert [r["reverses_sequence"] for r in rows[4:]] == ["1", "1"]
    assert sum(int(r["amount"].replace(".", "")) for r in rows) == 0

    target = tmp_path / "book.beancount"
    written = run("export", "--format", "beancount", "--output", str(target))
    assert written.exit_code == 0 and "wrote 3 entries" in written.stderr
    content = target.read_text()
    assert "balance Assets:Bank:Intesa  2.50 ~ 0 EUR" in content
    assert '"a \\"quoted\\", b"' in content
    assert not list(tmp_path.glob("*.partial"))


# --------------------------------------------------------------------------- demo, errors
def test_demo_loads_once_a_second_run_changes_nothing_and_the_book_verifies(run, book):
    first = run("demo")
    assert first.exit_code == 0 and first.stdout.startswith("demo data loaded")
    before = run("trial-balance", "--format", "json").stdout
    last = book.verify().last_sequence
    second = run("demo")
    assert second.exit_code == 0 and "already there" in second.stdout
    assert run("trial-balance", "--format", "json").stdout == before
    assert book.verify().last_sequence == last and last > 10
    assert run("verify").exit_code == 0
    pool = json.loads(run("balance", "liabilities:grants:1:pool", "--format", "json").stdout)
    assert pool == {
        "account": "liabilities:grants:1:pool",
        "currency": "EUR",
        "posted": "9750.00",
        "pending": "60.00",
        "available": "9690.00",
    }
    escrow = json.loads(run("balance", "liabilities:projects:1:escrow", "--format", "json").stdout)
    assert escrow["posted"] == "185.00"
    kinds = {book.entry(n).kind for n in range(1, last + 1)}
    assert {"donation", "grant_received", "match_release", "reversal"} <= kinds
    dates = {book.entry(n).effective_on for n in range(1, last + 1)}
    assert min(dates).year == max(dates).year == 2026


def test_a_database_that_was_never_migrated_gives_a_clear_error(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = CliRunner().invoke(
        cli, ["--database", url, "accounts", "list"], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert "database_error" in result.stderr and "ledger db upgrade" in result.stderr
    assert "Traceback" not in result.output


def test_demo_with_users_creates_one_user_per_role_who_can_sign_in_with_the_demo_password(
    run, book, cheap_hashing
):
    first = run("demo", "--with-users")
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[0].endswith(f", {len(DEMO_USERS)} users")
    assert f"demo sign-in (password {DEMO_PASSWORD})" in first.stdout
    assert {role for _email, _name, role in DEMO_USERS} == set(ROLES)
    for email, _name, role in DEMO_USERS:
        roles = book.read(lambda s, email=email: authenticate(s, email, DEMO_PASSWORD).roles)
        assert roles == {role}
    second = run("demo", "--with-users")
    assert "already there" in second.stdout and DEMO_PASSWORD in second.stdout
    # Plus the demo call's people, who have no password (ledger.funds.demo_calls).
    assert user_count(book) == len(DEMO_USERS) + len(DEMO_PEOPLE)


def test_plain_demo_loads_the_book_without_users_and_never_prints_the_password(run, book):
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "demo data loaded: 9 accounts, 21 entries, 2 holds, 3 campaigns",
    ]
    assert DEMO_PASSWORD not in result.output and "@" not in result.output
    assert user_count(book) == len(DEMO_PEOPLE)  # the demo call's people, no password
    # 21 hand-made entries, then the campaign's (3 card gifts, a transfer, cash, a refund),
    # the grants demo's (2 pledges, 6 gifts, a top-up earned and released, a payment in),
    # the funds demo's and the call's (a deposit, a tranche paid), and the bank month's (two
    # transfer gifts settled, a loan repayment, a Stripe payout and its arrival, three lines
    # booked: the returned supplier payment both ways and the fees), then the projects' (an
    # advance, a partner's cash, seven expenses, volunteer hours and in-kind).
    from ledger.core.models import JournalEntry

    keys = book.read(lambda s: list(s.scalars(select(JournalEntry.idempotency_key))))
    assert book.verify().last_sequence == len(keys) == 21 + 6 + 11 + 2 + 16 + 8 + 14
    assert sum(key.startswith("project:") for key in keys) == 14
    assert sum(key.startswith("grant:") for key in keys) == 5  # pledges, earn, release, payment


def test_demo_users_are_added_later_to_a_demo_book_without_touching_it(run, book, cheap_hashing):
    run("demo")
    before = run("trial-balance", "--format", "json").stdout
    added = run("demo", "--with-users")
    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines()[0] == (
        f"demo data loaded: 0 accounts, 0 entries, 0 holds, 0 campaigns, {len(DEMO_USERS)} users"
    )
    assert run("trial-balance", "--format", "json").stdout == before
    assert user_count(book) == len(DEMO_USERS) + len(DEMO_PEOPLE)


def test_demo_users_are_refused_where_a_real_user_exists_and_nothing_is_written(
    run, book, cheap_hashing
):
    created = run("users", "create", "anna.rossi@example.it", "--role", "treasurer")
    assert created.exit_code == 0, created.output
    actions = [e["action"] for e in audit_log(book)]

    result = run("demo", "--with-users")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: real_users_present: ")
    assert "anna.rossi" not in result.output and DEMO_PASSWORD not in result.output
    assert user_count(book) == 1
    assert book.accounts() == []
    assert book.verify().last_sequence == 0
    assert [e["action"] for e in audit_log(book)] == actions
    # The book alone may still be loaded beside real users.
    assert run("demo").exit_code == 0 and user_count(book) == 1 + len(DEMO_PEOPLE)


def test_demo_users_are_refused_beside_a_deactivated_real_user_too(run, book, cheap_hashing):
    run("users", "create", "anna.rossi@example.it", "--role", "donor")
    run("users", "deactivate", "anna.rossi@example.it")
    result = run("demo", "--with-users")
    assert result.exit_code == 1 and "real_users_present" in result.stderr
    assert user_count(book) == 1


# --------------------------------------------------------------------------- currency totals
def test_currency_totals_sum_the_trial_balance_per_currency_and_say_whether_it_balances(
    run, accounts, book
):
    assert currency_totals([]) == []
    run(
        "post",
        input="\n".join(
            [
                json.dumps(entry("ct-1", "100.00")),
                json.dumps(
                    {
                        "idempotency_key": "ct-2",
                        "kind": "donation",
                        "effective_date": "2026-04-02",
                        "postings": [
                            {"account": "assets:bank:tokyo", "amount": "5000"},
                            {"account": "income:donations:jpy", "amount": "-5000"},
                        ],
                    }
                ),
            ]
        ),
    )
    lines_ = book.trial_balance()
    totals = currency_totals(lines_)
    assert totals == [CurrencyTotal("EUR", 10000, 10000), CurrencyTotal("JPY", 5000, 5000)]
    assert all(t.balanced for t in totals)
    assert currency_totals(iter(lines_)) == totals
    eur_only = [ln for ln in lines_ if ln.account.code == "assets:bank:intesa"]
    [lopsided] = currency_totals(eur_only)
    assert lopsided == CurrencyTotal("EUR", 10000, 0) and not lopsided.balanced
    with pytest.raises(AttributeError):
        lopsided.debit = 0  # type: ignore[misc]


def test_demo_seeds_a_live_campaign_with_card_cash_and_transfer_gifts_a_fee_and_a_refund(run, book):
    from ledger.campaigns import accounts
    from ledger.campaigns.models import Campaign, Donation
    from ledger.campaigns.service import figures

    assert run("demo").exit_code == 0
    from ledger.demo import DEMO_CAMPAIGN_TITLE

    campaign_id, status = book.read(
        lambda s: s.execute(
            select(Campaign.id, Campaign.status).where(Campaign.title == DEMO_CAMPAIGN_TITLE)
        ).one()
    )
    assert status == "live"
    methods = book.read(
        lambda s: sorted(
            s.scalars(
                select(Donation.method).where(
                    Donation.status == "settled", Donation.campaign_id == campaign_id
                )
            )
        )
    )
    # A transfer recorded by hand, and two by reference settled from the bank month.
    assert methods == ["bank_transfer"] * 3 + ["card", "card", "card", "cash"]
    raised = book.read(lambda s: figures(s, campaign_id))
    # The cash gift went back; the bank month's two transfer gifts (80.00 + 45.00) came in.
    assert (raised.raised_minor, raised.donor_count) == (34500 + 12500, 6)
    assert book.balance(accounts.escrow(campaign_id)).posted == 34500 + 12500
    # This campaign's three card fees, and the two of the grants demo's campaign.
    assert book.balance(accounts.FEES).posted == 98 + 193 + 60 + 98 + 235
    # Its cash gift went back; what the cash box holds is the grants demo's 2,400 + 30.
    assert book.balance(accounts.CASH).posted == 240000 + 3000
