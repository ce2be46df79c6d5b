"""Crowdfunding campaigns, their donations, refunds, disputes and receipts.

A campaign collects gifts for a recipient organisation (a Third Sector entity).
Each campaign has its own escrow account in the engine; every movement of its
money is an entry there, written in the same transaction as the domain row that
explains it. Only settled money counts toward the goal.

Layout, from the top: `commands` (the use cases pages, API and CLI call, each
with its audit event and request key), `sync` and `stripe_events` (what Stripe
reports), `service` (campaigns), `donations`, `refunds`, `receipts`, then
`getters` at the bottom (rows by id, imported by all and importing none of
them); `queries` reads for pages and exports, `receipt_data` is what a receipt
states.
"""
