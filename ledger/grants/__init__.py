"""Grants: reserved for its issue; empty until then."""
