"""Payments: adapters to payment providers (Stripe) for donations and refunds.

`stripe_gateway.StripeGateway` is the ledger's only door to Stripe; it returns
plain frozen records and never lets a `stripe` object or error escape.
"""
