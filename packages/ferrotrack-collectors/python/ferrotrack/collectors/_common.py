"""What every collector here shares: metadata, config base, fact flattening, URL redaction."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

from ferrotrack.core.plugins import (
    CollectorPlugin,
    MetricData,
    MetricType,
    PluginMetadata,
    PluginType,
)

__all__ = [
    "DISTRIBUTION",
    "SECRET_WORDS",
    "CollectorConfig",
    "FileCollector",
    "facts",
    "metadata",
    "redact_url",
    "secret_name",
]

DISTRIBUTION = "ferrotrack-collectors"

SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASS", "CRED", "PRIVATE", "AUTH", "COOKIE")
"""A variable whose name holds one of these is never recorded, whatever an allow-list
says. Broader than core's ``SECRET_KEY`` (which names config keys): ``PASS`` also catches
``PGPASS``/``DB_PASS``, ``KEY`` also ``AWS_ACCESS_KEY_ID``, ``AUTH`` ``GH_AUTH``; a name
dropped wrongly costs a fact, a secret kept would leak into every mirror of the run."""

_SECRET = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)

_SECRET_QUERY = re.compile("|".join((*SECRET_WORDS, "SIG")), re.IGNORECASE)

_USERINFO = re.compile(r"://[^/?#]*@")


class CollectorConfig(BaseModel):
    """Base of the collectors' configs: unknown keys are refused (a typo is not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def metadata(
    name: str,
    description: str,
    config: type[BaseModel],
    *,
    dependencies: list[str] | None = None,
    extra: str | None = None,
) -> PluginMetadata:
    """The metadata of one of this package's collectors (version read lazily)."""
    from ferrotrack.collectors import __version__

    return PluginMetadata(
        name=name,
        version=__version__,
        type=PluginType.COLLECTOR,
        description=description,
        author="ferrotrack",
        dependencies=dependencies or [],
        extra=extra,
        config_model=config,
    )


def secret_name(name: str) -> bool:
    """Whether a variable or parameter name looks like it holds a secret."""
    return _SECRET.search(name) is not None


def facts(
    prefix: str, values: Mapping[str, Any], source: str, kind: MetricType = MetricType.PARAMETER
) -> list[MetricData]:
    """One PARAMETER (or TEXT) item per leaf of ``values``, named ``prefix.path.to.leaf``
    (a dotted param name is a path, so the run's ``params.json`` nests them)."""
    out: list[MetricData] = []

    def walk(path: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, inner in value.items():
                walk(f"{path}.{key}", inner)
        else:
            out.append(MetricData(path, value, kind, source=source))

    for key, value in values.items():
        walk(f"{prefix}.{key}", value)
    return out


def redact_url(url: str) -> str:
    """``url`` without credentials: the ``user:password@`` (or ``token@``) part of an
    http(s) URL, a password anywhere, and query parameters named like a secret. The user
    of an ``ssh://git@host`` URL is not a secret and stays; scp-like ``git@host:path``
    (no scheme) is left alone for the same reason.

    >>> redact_url("https://me:hunter2@github.com/o/r.git")
    'https://github.com/o/r.git'
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL Python can split ("[" in the host): drop any userinfo
        return _USERINFO.sub("://", url, count=1)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        keep_user = parts.scheme.endswith("ssh") and not has_password and user
        netloc = f"{user}@{host}" if keep_user else host
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not _SECRET_QUERY.search(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class FileCollector(CollectorPlugin):
    """A collector that hands the run a file (a patch, a package list): the file is written
    to a temporary folder the run copies from, removed again at stop."""

    def __init__(self) -> None:
        super().__init__()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def artifact(self, name: str, data: bytes) -> MetricData | None:
        """``data`` as the artifact ``name`` (``<plugin>/<file name>`` in the run); ``None``
        (reported once, the collector's facts still recorded) when it cannot be written."""
        self.cleanup()
        file_name = name.rsplit("/", 1)[-1]
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"ferrotrack-{self.name}-")
            file = Path(self._tmp.name) / file_name
            file.write_bytes(data)
        except OSError as exc:
            self.errors += 1
            self.report_problem(
                "artifact", f"could not write {file_name} (left out of the run): {exc}"
            )
            return None
        return MetricData(name, str(file), MetricType.ARTIFACT, source=self.name)

    def cleanup(self) -> None:
        """Removes the temporary copy (the run keeps its own)."""
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.cleanup()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops and removes the temporary file."""
        super().stop(timeout)
        self.cleanup()
