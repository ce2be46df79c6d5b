"""werkzeug's development server, keeping the answer's close callbacks when the
client drops the connection (`ledger serve` and the browser tests' live server).

After sending an answer, werkzeug's request handler drains what the client sent
since, then closes the answer, which runs its close callbacks: the mail that
leaves once a page has answered (`web.mail.flush_outbox_after_response`). When
the client resets the connection during that drain (Chromium does, having
already moved to the next page), the read raises and werkzeug reports a dropped
connection without closing the answer: the callbacks never run, and the mail
waits in the outbox for `ledger outbox dispatch`. Here the application keeps its
answer in the request's environment and the handler closes it when the
connection drops; closing twice does nothing.

Production serving (a WSGI server that closes every answer) is not concerned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from werkzeug.serving import WSGIRequestHandler

ANSWER = "ledger.answer"


class _Answer:
    """An answer's body, closed at most once."""

    def __init__(self, body: Iterable[bytes]) -> None:
        self._body = body
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def keep_answers(wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """`wsgi_app`, leaving each answer in its request's environment for the handler."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        answer = _Answer(wsgi_app(environ, start_response))
        environ[ANSWER] = answer
        return answer

    return app


class ClosingRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, closing the answer when the client drops the connection."""

    def connection_dropped(
        self, error: BaseException, environ: dict[str, Any] | None = None
    ) -> None:
        answer = (environ or {}).get(ANSWER)
        if isinstance(answer, _Answer):
            answer.close()
