"""gunicorn's settings for `ledger serve --production`, read from `LEDGER_SERVER_*`.

`gunicorn --config python:web.gunicorn_conf web.wsgi:app` is what the command
runs. Workers are threaded (gthread): the application's work is mostly waiting
on the database, and each worker process keeps its own connection pool. The
access log holds no client address, user agent, referrer or query string (where
a search may carry a name): time, method, path, status, size, duration.
"""

from __future__ import annotations

from web.config import load_config

_settings = load_config()

bind = [str(_settings["SERVER_BIND"])]
workers = int(_settings["SERVER_WORKERS"])
worker_class = "gthread"
threads = int(_settings["SERVER_THREADS"])
timeout = int(_settings["SERVER_TIMEOUT"])
graceful_timeout = int(_settings["SERVER_GRACEFUL_TIMEOUT"])
keepalive = int(_settings["SERVER_KEEPALIVE"])
_access = str(_settings["SERVER_ACCESS_LOG"]).strip()
accesslog = None if _access.lower() in {"off", "none", ""} else _access
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
# The application's settings come from LEDGER_*; gunicorn's own variable is not read.
raw_env: list[str] = []
proc_name = "ledger"
