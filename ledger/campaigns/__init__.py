"""Crowdfunding campaigns, their donations, refunds, disputes and receipts.

A campaign collects gifts for a recipient organisation (a Third Sector entity).
Each campaign has its own escrow account in the engine; every movement of its
money is an entry there, written in the same transaction as the domain row that
explains it. Only settled money counts toward the goal.
"""
