"""The administration blueprint and the roles of its pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN = "admin"
# Closing a month, verify and the exports: the books' people (as `ledger periods`,
# `ledger verify` and `ledger export` are the operator's).
BOOKS = ("admin", "treasurer")
