"""The audit log: who did what, when and from where, for every state change.

Events are written in the same transaction as the change they describe (a
refused change leaves no event) and are append-only: database triggers refuse
UPDATE and DELETE. An event names its actor by user id and its subject by type
and id; `details` must not hold personal data or secrets.
"""
