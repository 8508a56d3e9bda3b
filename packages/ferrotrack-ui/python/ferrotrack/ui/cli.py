"""``ferrotrack ui``: serve the dashboard over the store, on loopback unless told otherwise.

Binding any other address exposes every run to the network, so it needs a token (given with
``--token``, else generated and printed) or the explicit ``--insecure-no-token``.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
import threading
import time
import webbrowser

import click

__all__ = ["is_loopback", "ui_command"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only ever reaches this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@click.command("ui")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Store folder (default: the ferrotrack command's root).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port (0: a free one).")  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option("--token", default=None, help="Token every request must carry (Bearer or ?token=).")
@click.option("--insecure-no-token", is_flag=True,
              help="Serve a non-loopback address without a token (anyone reaching it reads "
              "every run).")  # fmt: skip
def ui_command(
    *,
    root: str | None,
    host: str,
    port: int,
    open_browser: bool,
    token: str | None,
    insecure_no_token: bool,
) -> None:
    """Serve the web dashboard of the store (read-only) and print its URL."""
    import uvicorn

    from ferrotrack.core.cli._common import store_root
    from ferrotrack.ui.server import create_app

    if token is not None and insecure_no_token:
        raise click.UsageError("--token and --insecure-no-token exclude each other")
    if token is not None and not token:
        raise click.UsageError("--token: give a non-empty token")
    store = store_root(root)
    if not is_loopback(host) and token is None and not insecure_no_token:
        token = secrets.token_urlsafe(24)
    if not is_loopback(host) and token is None:
        click.echo(f"warning: serving {host} without a token: anyone who reaches it reads "
                   "every run", err=True)  # fmt: skip
    sock = _bind(host, port)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}/"
    if token is not None:
        url += f"?token={token}"
    config = uvicorn.Config(create_app(store, token=token), log_level="warning",
                            lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    click.echo(f"ferrotrack ui: {url}  (store: {store}; Ctrl-C stops)")
    sys.stdout.flush()
    if open_browser:
        threading.Thread(target=_open_when_up, args=(server, url), daemon=True).start()
    server.run(sockets=[sock])


def _open_when_up(server: object, url: str) -> None:
    deadline = time.monotonic() + 30
    while not getattr(server, "started", False) and time.monotonic() < deadline:
        time.sleep(0.05)
    webbrowser.open(url)
