"""Arrays that are not Python buffers (PyTorch, JAX, CuPy tensors) as numpy arrays in host
memory, for the native ``log_array``.

Buffers (numpy, ``array.array``, memoryview) never come here: the native code reads them
in place. Anything else that speaks DLPack or ``__array__`` comes here once per call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["host_array"]


def host_array(values: Any) -> np.ndarray:
    """``values`` as a numpy array in host memory.

    Through DLPack where the object speaks it (copying from a GPU when it lives on one),
    else ``np.asarray``. A type numpy lacks (bfloat16) is widened first by the object's own
    ``float()``, as PyTorch tensors have it.
    """
    try:
        return _to_numpy(values)
    except (BufferError, TypeError, RuntimeError, ValueError):
        widen = getattr(values, "float", None)
        if not callable(widen):
            raise
        return _to_numpy(widen())


def _to_numpy(values: Any) -> np.ndarray:
    if not hasattr(values, "__dlpack__"):
        return np.asarray(values)
    try:
        return np.from_dlpack(values, device="cpu")
    except TypeError:  # numpy before 2.1 has no device=: host memory only
        return np.from_dlpack(values)
