"""Use cases on the engine's books: what people do to the journal itself.

Opening an account, posting and reversing an entry, closing a month, expiring
holds and loading the demo book, each in the one command shape of
`ledger.commands` (an `Origin`, a request key where the act can be repeated,
its own audit event). The engine (`ledger.core`) stays free of all of this: it
knows nothing of callers, audit events or request keys scoped by caller, so
this package sits on top of it, and the engine may never import it.
"""
