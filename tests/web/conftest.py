"""Web fixtures: the Flask app and its test client on a fresh migrated database.

`app` shares `db_url` with the `ledger` fixture of tests/conftest.py, so a test
can post entries through the engine and then read them through the web.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient

from web import create_app


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    application = create_app({"DATABASE_URL": db_url, "TESTING": True})
    yield application
    application.extensions["ledger"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def offline_client() -> Iterator[FlaskClient]:
    """A client of an app whose database cannot be reached.

    For responses that must not need the database (input refused before any
    query, unknown routes): if one of them tried to query, it would answer 503.
    """
    application = create_app(
        {
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
            "DATABASE_CONNECT_TIMEOUT": 2,
            "TESTING": True,
        }
    )
    yield application.test_client()
    application.extensions["ledger"].engine.dispose()


class TableRows(HTMLParser):
    """Collect the text of each table row, per section (thead, tbody, tfoot)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {"thead": [], "tbody": [], "tfoot": []}
        self._section: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.sections:
            self._section = tag
        elif tag == "tr" and self._section:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._section:
            self.sections[self._section].append(self._row)
            self._row = None
        elif tag in self.sections:
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> dict[str, list[list[str]]]:
    """The trial balance table of a page as lists of cell texts per section."""
    parser = TableRows()
    parser.feed(html)
    return parser.sections
