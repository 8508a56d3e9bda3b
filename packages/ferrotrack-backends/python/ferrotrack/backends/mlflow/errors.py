"""Errors of the ``mlflow`` backend: each names the backend, the run and what to do, and
none holds a secret (a password in the tracking URI, the configured password)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from ferrotrack.core.errors import FerrotrackError

__all__ = ["MlflowUnavailableError", "Scrubber", "public_uri"]

_USERINFO = re.compile(r"(?<=://)[^/@\s'\"]*@")


def public_uri(uri: str) -> str:
    """``uri`` without its user and password (what may be printed or stored)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return _USERINFO.sub("", uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class MlflowUnavailableError(FerrotrackError, ConnectionError):
    """The MLflow server could not take an item now (down, refusing, timing out, 5xx):
    delivery retries it, then marks the backend degraded until ``ferrotrack sync``."""


class Scrubber:
    """Removes secrets from text that came from MLflow or the network stack.

    MLflow's own messages hold the full request URL, user and password included.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = _USERINFO.sub("", text)
        for secret in self.secrets:
            text = text.replace(secret, "**********")
        return text
