"""The dict every processor returns: ``success``, ``processor``, ``run_id``, ``message``,
then its results; a failure adds ``error`` (what went wrong, in a few words)."""

from __future__ import annotations

from typing import Any

__all__ = ["failed", "succeeded"]


def succeeded(processor: str, run_id: str | None, message: str, **results: Any) -> dict[str, Any]:
    """A successful result; ``results`` are the processor's own keys."""
    return {
        "success": True,
        "processor": processor,
        "run_id": run_id,
        "message": message,
        **results,
    }


def failed(
    processor: str, run_id: str | None, error: str, message: str, **results: Any
) -> dict[str, Any]:
    """A failed result: ``error`` says what was wrong, ``message`` says it as a sentence."""
    return {
        "success": False,
        "processor": processor,
        "run_id": run_id,
        "error": error,
        "message": message,
        **results,
    }
