"""Grants: foundations, matching-grant commitments and their rules.

So far only the pure rules engine, `ledger.grants.rules`: ratio matching by the
cumulative method, threshold top-ups, completion bonuses and the clawback
arithmetic after a refund, in integer minor units with named rounding. It
touches no database and reads no clock; it imports only `ledger.core`.
"""
