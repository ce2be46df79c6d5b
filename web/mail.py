"""(being written)"""

from __future__ import annotations

from flask import Flask


def init_mail(app: Flask) -> None:
    """Install the mail sender."""
