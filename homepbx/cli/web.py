"""`homepbx web`: the supervisors' live wallboard (an ASGI app under uvicorn)."""

from __future__ import annotations

import click

from .common import AppContext, pass_app


@click.command()
@click.option("--listen", default="127.0.0.1:8080", show_default=True,
              help="Address and port to serve on (HOST:PORT).")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TLS certificate (PEM); with --keyfile the server speaks HTTPS only.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS private key (PEM).")
@click.option("--behind-tls-proxy", is_flag=True,
              help="A reverse proxy in front terminates TLS: mark cookies Secure anyway.")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True,
              help="Proxies whose X-Forwarded-For/-Proto headers are trusted.")
@click.option("--tz", default="UTC", show_default=True, help="Time zone where the queues' 'today' begins.")
@pass_app
def web(app: AppContext, listen: str, certfile: str | None, keyfile: str | None, behind_tls_proxy: bool,
        forwarded_allow_ips: str, tz: str) -> None:
    """Serve the wallboard: live agents and queues, one-click listen/whisper/barge (supervisors sign in)."""
    from .. import db
    from ..records.reports import zone
    from ..web import WebConfig, serve
    from ..web.server import parse_listen

    settings = app.settings
    parse_listen(listen)  # bad input is refused before anything starts
    zone(tz)  # a bad zone too, not on the first refresh
    db.ensure_current(settings.database.url)
    config = WebConfig(settings, secure_cookies=bool(certfile) or behind_tls_proxy, tz=tz)
    scheme = "https" if certfile else "http"
    click.echo(f"Wallboard on {scheme}://{listen}/ (Ctrl-C to stop).", err=True)
    serve(config, listen, certfile, keyfile, forwarded_allow_ips)
