"""Statements: what the books say, for people and for other tools.

`export` writes the whole journal as a beancount ledger (with balance
assertions of every account, the independent oracle `bean-check` verifies) or
as a CSV of postings. Grant statements and PDFs join this package later.
"""
