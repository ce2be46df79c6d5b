"""Every CLI command that changes the book writes one audit event in its own transaction.

The events say who (no signed-in user: the CLI), what (the action and its
subject), when, and from where (channel "cli", the host as source). A command
that is refused, or that changes nothing, leaves no event; an event that cannot
be written takes the change down with it. Details hold structural facts only,
never a narration, metadata or an account's free-text name.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result

from ledger.core.clock import FixedClock
from ledger.core.holds import HoldSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.demo import DEMO_USERS
from tests.integration.conftest import HOST, audit_log


def cli_event(action: str, subject: tuple[str | None, str | None], details: dict) -> dict:
    return {
        "action": action,
        "channel": "cli",
        "actor": None,
        "source": HOST,
        "subject": subject,
        "details": details,
    }


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def entry(key: str, amount: str = "25.00", *, date: str = "2026-04-03") -> dict:
    return {
        "idempotency_key": key,
        "kind": "donation",
        "effective_date": date,
        "narration": "Donazione con bonifico (narrazione di prova)",
        "metadata": {"donor_party_id": 7},
        "postings": [
            {"account": "assets:bank:intesa", "amount": amount},
            {"account": "income:donations", "amount": "-" + amount},
        ],
    }


@pytest.fixture
def accounts(run) -> None:  # type: ignore[no-untyped-def]
    ok(run("accounts", "create", "assets:bank:intesa", "--type", "asset", "--no-overdraft"))
    ok(run("accounts", "create", "income:donations", "--type", "income"))
    ok(run("accounts", "create", "assets:stripe:clearing", "--type", "asset"))


def actions(book: Ledger) -> list[str]:
    return [e["action"] for e in audit_log(book)]


# --------------------------------------------------------------------------- accounts
def test_creating_an_account_writes_an_account_create_event_without_its_name(run, book):
    ok(
        run(
            "accounts",
            "create",
            "assets:bank:intesa",
            "--type",
            "asset",
            "--no-overdraft",
            "--name",
            "Conto di Anna Rossi",
        )
    )
    [account] = book.accounts()
    assert audit_log(book) == [
        cli_event(
            "account.create",
            ("account", str(account.id)),
            {
                "code": "assets:bank:intesa",
                "type": "asset",
                "currency": "EUR",
                "no_overdraft": True,
            },
        )
    ]
    assert "Anna" not in json.dumps(audit_log(book))


def test_a_refused_account_leaves_no_event(run, book, accounts):
    before = audit_log(book)
    assert run("accounts", "create", "income:donations", "--type", "income").exit_code == 1
    assert run("accounts", "create", "Assets Bank", "--type", "asset").exit_code == 1
    assert audit_log(book) == before


def test_an_account_whose_event_cannot_be_written_is_not_created(
    run, book, monkeypatch: pytest.MonkeyPatch
):
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr("ledger.commands.keys.event_params", broken)
    with pytest.raises(RuntimeError):
        run("accounts", "create", "assets:bank:intesa", "--type", "asset")
    monkeypatch.undo()
    assert book.accounts() == []
    assert audit_log(book) == []


# --------------------------------------------------------------------------- post
def test_each_posted_entry_writes_one_entry_post_event_and_a_replay_writes_none(
    run, book, accounts
):
    start = len(audit_log(book))
    text_in = json.dumps(entry("a-1")) + "\n" + json.dumps(entry("a-2", "5.00")) + "\n"
    first = ok(run("post", input=text_in))
    ids = [json.loads(line)["id"] for line in first.stdout.splitlines()]

    assert audit_log(book)[start:] == [
        cli_event(
            "entry.post",
            ("entry", "1"),
            {"sequence": 1, "entry_id": ids[0], "kind": "donation", "postings": 2},
        ),
        cli_event(
            "entry.post",
            ("entry", "2"),
            {"sequence": 2, "entry_id": ids[1], "kind": "donation", "postings": 2},
        ),
    ]
    ok(run("post", input=text_in))
    assert len(audit_log(book)) == start + 2
    logged = json.dumps(audit_log(book))
    assert "narrazione di prova" not in logged and "donor_party_id" not in logged


def test_a_refused_post_leaves_no_event(run, book, accounts):
    before = audit_log(book)
    unbalanced = entry("r-1")
    unbalanced["postings"][1]["amount"] = "-24.00"
    overdraft = entry("r-2")
    overdraft["postings"] = [
        {"account": "assets:bank:intesa", "amount": "-5.00"},
        {"account": "assets:stripe:clearing", "amount": "5.00"},
    ]
    for document in (unbalanced, overdraft):
        result = run("post", input=json.dumps(document))
        assert result.exit_code == 1 and "error" in json.loads(result.stdout)
    assert run("post", input="{not json").exit_code == 1
    assert audit_log(book) == before
    assert book.verify().last_sequence == 0


def test_in_a_mixed_batch_only_the_entries_posted_have_events(run, book, accounts):
    start = len(audit_log(book))
    bad = entry("m-2", "1.005")
    result = run("post", input="\n".join(json.dumps(e) for e in (entry("m-1"), bad)))
    assert result.exit_code == 1
    assert [(e["action"], e["subject"]) for e in audit_log(book)[start:]] == [
        ("entry.post", ("entry", "1"))
    ]


def test_a_conflicting_idempotency_key_leaves_no_event(run, book, accounts):
    ok(run("post", input=json.dumps(entry("k-1"))))
    before = audit_log(book)
    assert run("post", input=json.dumps(entry("k-1", "99.00"))).exit_code == 1
    assert audit_log(book) == before


# --------------------------------------------------------------------------- reverse
def test_a_reversal_writes_one_entry_reverse_event_naming_the_reversed_entry(run, book, accounts):
    ok(run("post", input=json.dumps(entry("rv-1"))))
    start = len(audit_log(book))
    [line] = ok(run("reverse", "1", "--idempotency-key", "rev-1")).stdout.splitlines()
    reversal_id = json.loads(line)["id"]
    assert audit_log(book)[start:] == [
        cli_event(
            "entry.reverse",
            ("entry", "2"),
            {
                "sequence": 2,
                "entry_id": reversal_id,
                "kind": "reversal",
                "postings": 2,
                "reverses_sequence": 1,
            },
        )
    ]
    ok(run("reverse", "1", "--idempotency-key", "rev-1"))  # a replay
    assert run("reverse", "1", "--idempotency-key", "rev-2").exit_code == 1  # already reversed
    assert run("reverse", "9", "--idempotency-key", "rev-3").exit_code == 1  # no such entry
    assert len(audit_log(book)) == start + 1


# --------------------------------------------------------------------------- periods
def test_closing_a_period_writes_a_period_close_event_once(run, book):
    ok(run("periods", "close", "2026-03"))
    ok(run("periods", "close", "2026-03"))
    assert run("periods", "close", "2099-01").exit_code == 1
    assert run("periods", "close", "March").exit_code == 1
    assert audit_log(book) == [
        cli_event("period.close", ("period", "2026-03"), {"ends_on": "2026-03-31"})
    ]


# --------------------------------------------------------------------------- holds
def test_each_expired_hold_writes_a_hold_expire_event(run, book, accounts):
    ok(run("post", input=json.dumps(entry("h-0", "50.00"))))
    earlier = FixedClock(datetime.now(UTC) - timedelta(hours=2))
    held = Ledger(book.engine, clock=earlier)
    hold_ids = [
        held.hold(
            HoldSpec(
                f"h-{n}",
                "match_release",
                "assets:stripe:clearing",
                "assets:bank:intesa",
                Money.parse("5.00", "EUR"),
                expires_at=earlier.instant + timedelta(hours=1),
            )
        ).hold.id
        for n in (1, 2)
    ]
    start = len(audit_log(book))

    assert "expired 2 holds" in ok(run("holds", "expire")).stdout
    assert "expired 0 holds" in ok(run("holds", "expire")).stdout

    assert sorted((e["subject"], e["details"]) for e in audit_log(book)[start:]) == sorted(
        (("hold", hold_id), {}) for hold_id in hold_ids
    )
    assert actions(book)[start:] == ["hold.expire", "hold.expire"]
    assert {(e["channel"], e["source"]) for e in audit_log(book)} == {("cli", HOST)}


# --------------------------------------------------------------------------- demo
BANK_MONTH_ACTIONS = [
    "donation.transfer_start",
    "donation.transfer_start",
    "stripe.payout",
    "bank_account.create",
    "bank_account.hold",
    "bank.import",
    "loan.repayment",
    "donation.transfer_settle",
    "donation.transfer_settle",
    "bank.match",
    "bank_line.book",
    "bank_line.book",
    "bank_line.match",
    "bank_line.match",
    "bank_line.match",
    "bank_line.match",
    "bank_line.book",
]


def test_loading_the_demo_writes_one_demo_load_event_with_its_counts(run, book, cheap_hashing):
    ok(run("demo"))
    ok(run("demo"))
    first = len(audit_log(book))
    ok(run("demo", "--with-users"))
    ok(run("demo", "--with-users"))
    log = audit_log(book)
    # The bank month and the projects act through their use cases, each audited once,
    # first time only; adding the users links the project staff and partner's demo users
    # to their organisations.
    assert [e["action"] for e in log[: len(BANK_MONTH_ACTIONS)]] == BANK_MONTH_ACTIONS
    loaded_projects = [e["action"] for e in log[len(BANK_MONTH_ACTIONS) : first - 1]]
    assert loaded_projects and all(a.startswith("project.") for a in loaded_projects)
    assert [e["action"] for e in log[first:]] == [
        "project.add_member",
        "project.add_member",
        "demo.load",
    ]
    assert [e for e in log if e["action"] == "demo.load"] == [
        cli_event(
            "demo.load",
            ("demo", None),
            {"accounts": 9, "entries": 21, "holds": 2, "users": 0, "campaigns": 3},
        ),
        cli_event(
            "demo.load",
            ("demo", None),
            {"accounts": 0, "entries": 0, "holds": 0, "users": len(DEMO_USERS), "campaigns": 0},
        ),
    ]


def test_a_refused_demo_leaves_no_event(run, book, cheap_hashing):
    ok(run("users", "create", "anna.rossi@example.it", "--role", "donor"))
    assert run("demo", "--with-users").exit_code == 1
    assert actions(book) == ["user.create"]


# --------------------------------------------------------------------------- reads
def test_commands_that_only_read_write_no_event(run, book, accounts, tmp_path):
    ok(run("post", input=json.dumps(entry("x-1"))))
    before = audit_log(book)
    for args in (
        ["accounts", "list"],
        ["entries", "show", "1"],
        ["balance", "assets:bank:intesa"],
        ["trial-balance"],
        ["holds", "list"],
        ["verify"],
        ["export", "--format", "csv", "--output", str(tmp_path / "book.csv")],
    ):
        ok(run(*args))
    assert audit_log(book) == before
