"""The JSON API under /api/v1 (being built: see web/api/v1.py)."""

from __future__ import annotations

from flask import Flask


def init_api(app: Flask) -> None:
    """Register the API blueprint on `app`."""
