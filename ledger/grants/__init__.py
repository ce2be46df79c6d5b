"""Grants: foundations, matching-grant commitments, their rules and money states.

- `rules`: the pure arithmetic (ratio matching by the cumulative method,
  threshold top-ups, completion bonuses, clawbacks), no database, no clock.
- `models`, `accounts`, `service`: foundations, officers, commitments and the
  engine accounts whose balances are a commitment's money states.
- `matching`: the reactions to campaign events (`handlers` subscribes them),
  inside the event's transaction.
- `queries`: figures for pages, the API and statements.
"""
