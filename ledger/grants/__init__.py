"""Grants: foundations, matching-grant commitments, their rules and money states.

From the bottom up (no module imports one above it):

- `rules`: the pure arithmetic (ratio matching by the cumulative method,
  threshold top-ups, completion bonuses, clawbacks), no database, no clock.
- `models`, `errors`, `accounts`: the tables, the refusals, and the engine
  accounts whose balances are a commitment's money states.
- `getters` and `log`: the rows and rules every module reads (a commitment,
  what its pool can still give, the rules its row states) and the grant log
  every money-state transition is appended to.
- `matching`: the reactions to campaign events (`handlers` subscribes them),
  inside the event's transaction, and the foundation's real money (payments in,
  clawbacks repaid).
- `service`: foundations, officers, creating and cancelling commitments.
- `queries`: figures for pages, the API and statements.
- `commands`: the use cases (create a foundation, add an officer, create or
  cancel a commitment, record a payment in or a clawback repaid), each in the
  one command shape of `ledger.commands`; pages, the API and the CLI call these.
"""
