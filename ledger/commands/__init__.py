"""The one shape of a use case: an act, an `Origin`, a request key, its audit event, an outcome.

Every act a person or a system performs (record a repayment, pay a tranche,
create a commitment) is one function in its domain package. It takes the act's
arguments, an `Origin` (who acts, through which channel, from which address)
and, when the act can be repeated, a request key. It opens with `begin`, which
applies the one idempotency rule of the product:

- the same key with the same request answers the original outcome
  (`Outcome.created` is false) and writes nothing;
- the same key with another request is `IdempotencyConflictError` (409) and
  writes nothing;
- two concurrent requests with one key make one effect: the key's row is
  inserted first, so the second request waits on the unique index and, once
  the first commits, its unit of work runs again and answers the replay.

It ends with `Claim.done`, which records the audit event under the action name
declared once (`Command`) in the same transaction and returns the `Outcome`.
Pages, the API, the CLI, jobs and reconciled bank lines call the same function
and only translate input and output.
"""

from __future__ import annotations

from ledger.audit.service import Origin
from ledger.commands.declare import Command, command, declared
from ledger.commands.keys import Claim, Earlier, begin, request_hash
from ledger.commands.outcome import Outcome

__all__ = [
    "Claim",
    "Command",
    "Earlier",
    "Origin",
    "Outcome",
    "begin",
    "command",
    "declared",
    "request_hash",
]
