"""What the Ray and Dask backends' configs share: a command, how long to wait for the
cluster to answer and for a worker to take a task, and the address check."""

from __future__ import annotations

from pydantic import Field

from ferrotrack.run.configs.base import CommandConfig

__all__ = ["EngineConfig", "check_address"]


def check_address(value: str | None, schemes: tuple[str, ...]) -> str | None:
    """``value`` when it is ``None``, ``"auto"`` or ``[SCHEME://]HOST:PORT`` with a known
    scheme; ``ValueError`` saying what is expected otherwise."""
    if value is None or value == "auto":
        return value
    scheme, sep, rest = value.rpartition("://")
    expected = f"None, 'auto' or [{'|'.join(s + '://' for s in schemes)}]HOST:PORT"
    if sep and scheme not in schemes:
        raise ValueError(f"unknown scheme {scheme!r}: expected {expected}")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected {expected}")
    return value


class EngineConfig(CommandConfig):
    """A backend whose model runs are tasks of a cluster engine."""

    connect_timeout: float = Field(
        default=10.0, gt=0, description="seconds to wait for a cluster at address to answer"
    )
    queue_timeout: float | None = Field(
        default=300.0,
        gt=0,
        description="seconds a task may wait for a worker before it is given up on and its run "
        "recorded failed ('never started'); None: wait as long as it takes",
    )
