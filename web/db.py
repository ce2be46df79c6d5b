"""The database seen from a request: the app's Ledger and one unit of work per request.

A view hands `in_transaction` a function of a session and calls the engine's
functions (`ledger.core.journal`, `balances`, ...) inside it; the unit commits
once when the function returns and rolls back if it raises, so views never
commit and a refused request leaves no trace (I10). A second unit of work in
the same request is refused: two commits per request would let half a request
succeed. The function may be run again after a deadlock or serialization
failure, or after its connection died under it before COMMIT (the server ended
it: the unit runs once more on a new connection; `ledger.core.uow`), so it must
only touch the database, never the outside world.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger.core.service import Ledger

T = TypeVar("T")

EXTENSION = "ledger"


def current_ledger() -> Ledger:
    """The Ledger of the running application (made by create_app)."""
    ledger: Ledger = current_app.extensions[EXTENSION]
    return ledger


def in_transaction(work: Callable[[Session], T], *, read_only: bool = False) -> T:
    """Run `work(session)` as this request's one unit of work and return its result.

    With `read_only`, PostgreSQL runs the unit as a REPEATABLE READ, READ ONLY
    transaction, so every query in it sees the same snapshot (a trial balance
    and the journal head it is shown with agree) and nothing can be written.
    """
    if g.get("_ledger_unit_of_work_used"):
        raise RuntimeError("a request runs one unit of work; put all its calls in one function")
    g._ledger_unit_of_work_used = True

    # A connection the server ends under the unit is handled by the ledger's unit of
    # work (ledger.core.uow): run once more on a new connection when it died before
    # COMMIT, for the CLI and the worker as for requests.
    ledger = current_ledger()
    return ledger.read(work) if read_only else ledger.run(work)


def ping(engine: Engine) -> None:
    """Run `SELECT 1` on a pooled connection; raise if the database cannot answer.

    It uses the driver connection directly, outside any transaction: on SQLite
    the engine starts every transaction with BEGIN IMMEDIATE, and a health check
    must not queue behind a writer for the write lock.
    """
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()
