"""The WSGI application of the production server: `gunicorn web.wsgi:app` (see web/cli.py).

Built from the `LEDGER_*` settings; it refuses to load (each worker's boot
fails, so gunicorn stops) on the settings `web.production` refuses, so starting
gunicorn by hand is as safe as `ledger serve --production`.
"""

from __future__ import annotations

from web import create_app
from web.production import refuse_unsafe

app = create_app()
refuse_unsafe(app.config, app.extensions["ledger"])
app.extensions["ledger"].engine.dispose()  # the check's connection is not kept
