"""Console script `ledger`: the domain CLI of `ledger.cli` plus `serve`."""

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


def main() -> None:
    cli()
