"""The outbox: side effects outside the database, queued inside the transaction.

A service that must send an e-mail (or, later, call Stripe) adds a message row
in the same transaction as the change that calls for it, so the message exists
exactly when the change committed. After the commit a dispatcher hands each
pending message to a sender and marks it sent; a message that fails stays
pending with its error and is retried. Payloads hold ids, never personal data
or secrets: the sender looks up the address and builds any link when it sends.
"""
