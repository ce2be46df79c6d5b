"""Console script `ledger`: the domain CLI of `ledger.cli` plus `serve` and `outbox`.

`outbox dispatch` lives here rather than in `ledger.cli` because building a
message (its template, its translated text, its links) is the web layer's job.
"""

from __future__ import annotations

import click

from ledger.cli import cli


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the web application (development server)."""
    from web import create_app

    overrides = {}
    if ctx.obj.get("database_url"):
        overrides["DATABASE_URL"] = ctx.obj["database_url"]
    app = create_app(overrides)
    app.run(host=host, port=port)


@cli.group()
def outbox() -> None:
    """Messages queued by the application (e-mail)."""


@outbox.command("dispatch")
@click.pass_context
def outbox_dispatch(ctx: click.Context) -> None:
    """Send the pending messages (for cron: what failed during a request is retried here)."""
    from web import create_app
    from web.mail import flush_outbox

    overrides = {}
    if ctx.obj.get("database_url"):
        overrides["DATABASE_URL"] = ctx.obj["database_url"]
    app = create_app(overrides)
    with app.app_context():
        sent, failed = flush_outbox()
    click.echo(f"outbox: {sent} sent, {failed} failed (kept for the next run)")
    app.extensions["ledger"].engine.dispose()
    if failed:
        ctx.exit(1)


def main() -> None:
    cli()
