"""The `ledger` command line for treasurers and operators (no Flask needed).

Every command opens its own unit of work; every command that changes state
(accounts, entries, periods, holds, the demo, users, API tokens) writes its
audit event (channel "cli", the host as source) in that same transaction, so a
refused command leaves neither the change nor an event. Errors print their
stable code and exit non-zero. `web.cli` adds `serve` to this group and is the
console script. Amounts are printed as decimal strings in the currency's scale
("12.50"); long commands show progress on standard error only when it is a
terminal.
"""

from __future__ import annotations

from ledger.cli import (
    accounts,
    books,
    campaigns,
    db,
    demo,
    funds,
    grants,
    holds,
    journal,
    periods,
    tokens,
    users,
)
from ledger.cli.common import (
    CommandError,
    Counter,
    cli,
    main,
    open_ledger,
)
from ledger.cli.journal import entry_from_json, entry_json, split_documents

cli.add_command(db.db)


# --------------------------------------------------------------------------- accounts
cli.add_command(accounts.accounts)


# --------------------------------------------------------------------------- post
cli.add_command(journal.post)


cli.add_command(journal.reverse)


# --------------------------------------------------------------------------- entries
cli.add_command(journal.entries)


# --------------------------------------------------------------------------- balances
cli.add_command(journal.balance)


cli.add_command(journal.trial_balance_cmd)


# --------------------------------------------------------------------------- periods, holds
cli.add_command(periods.periods)


cli.add_command(holds.holds)


# --------------------------------------------------------------------------- verify
cli.add_command(books.verify_cmd)


# --------------------------------------------------------------------------- export, demo
cli.add_command(books.export_cmd)


cli.add_command(demo.demo)


# --------------------------------------------------------------------------- users, tokens
cli.add_command(users.users)


cli.add_command(tokens.tokens)


__all__ = [
    "CommandError",
    "Counter",
    "cli",
    "entry_from_json",
    "entry_json",
    "main",
    "open_ledger",
    "split_documents",
]


# --------------------------------------------------------------------------- campaigns
cli.add_command(campaigns.campaigns)


cli.add_command(grants.foundations)


cli.add_command(grants.grants)


cli.add_command(funds.funds)
