"""The `ledger` command line for treasurers and operators (no Flask needed).

Every command opens its own unit of work. A command that changes state
(accounts, entries, periods, holds, the demo, users, API tokens, foundations,
grant disbursements) only parses its arguments and calls the domain's use case
(`ledger.books.commands`, `ledger.people.commands`, ...) with
`Origin.command_line()` (channel "cli", the host as source); the use case
writes the audit event in that same transaction, so a refused command leaves
neither the change nor an event. `campaigns close-due` still writes its own
event until its use case exists. Errors print their stable code and exit
non-zero. `web.cli` adds `serve`, `outbox` and `stripe` to this group and is
the console script. Amounts are printed as decimal strings in the currency's
scale ("12.50"); long commands show progress on standard error only when it is
a terminal.

The root group and its plumbing are in `ledger.cli.common`; the commands are in
one module per area, which imports `common` and no other command module.
Importing a module registers nothing: every command is added to `cli` below, in
this order.
"""

from __future__ import annotations

from ledger.cli import (
    accounts,
    backup,
    bank,
    books,
    campaigns,
    db,
    demo,
    funds,
    grants,
    holds,
    jobs,
    journal,
    people,
    periods,
    projects,
    tokens,
    users,
)
from ledger.cli.common import CommandError, Counter, cli, main, open_ledger
from ledger.cli.journal import entry_from_json, entry_json, split_documents

cli.add_command(db.db)
cli.add_command(accounts.accounts)
cli.add_command(journal.post)
cli.add_command(journal.reverse)
cli.add_command(journal.entries)
cli.add_command(journal.balance)
cli.add_command(journal.trial_balance_cmd)
cli.add_command(periods.periods)
cli.add_command(holds.holds)
cli.add_command(books.verify_cmd)
cli.add_command(books.export_cmd)
cli.add_command(demo.demo)
cli.add_command(users.users)
cli.add_command(tokens.tokens)
cli.add_command(campaigns.campaigns)
cli.add_command(grants.foundations)
cli.add_command(grants.grants)
cli.add_command(funds.funds)
cli.add_command(bank.bank)
cli.add_command(backup.backup_cmd)
cli.add_command(backup.restore_cmd)
cli.add_command(jobs.jobs)
cli.add_command(people.people)
cli.add_command(projects.projects)

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
