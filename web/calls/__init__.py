"""Calls for ideas on the web: pages (`pages_staff` for now) and the JSON API (`api`)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the four blueprints of calls for ideas on `app`."""
    from web.calls import pages_staff

    pages_staff.register(app)
