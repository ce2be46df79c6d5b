"""The double-entry engine. Every ledger write in the project goes through it.

Service API (each function takes the caller's SQLAlchemy session, so a domain
service can write its own rows and its entries in one unit of work; the
`Ledger` facade in `service.py` wraps each in its own retried transaction):

- `accounts.create_account(session, code, type, clock=, currency=, no_overdraft=, name=)`
- `journal.post_entry(session, EntrySpec, clock=)` / `post_entries(session, [EntrySpec], clock=)`
  -> `PostResult(entry, created)`; an identical retry returns the stored entry
  with created=False, a different request under the same key raises
  `IdempotencyConflictError` and writes nothing.
- `journal.reverse_entry(session, idempotency_key=, sequence= | entry_id=, clock=, ...)`
- `holds.create_hold(session, HoldSpec, clock=)`, `holds.resolve_hold(session, hold_id,
  outcome="posted" | "voided", idempotency_key=, amount=, clock=)`,
  `holds.expire_holds(session, clock=)`
- `periods.close_period(session, "YYYY-MM", clock=)`
- `balances.balance(session, code, as_of=)`, `balances.trial_balance(session, as_of=)`
- `verify.verify(session)` -> `VerifyReport` (ok, first, violations)
- `uow.unit_of_work(session_factory)` and `uow.run_in_transaction(factory, fn)`
  for callers composing several operations in one transaction.

Errors are `errors.LedgerError` subclasses with stable codes.
"""
