"""Helpers of the tensorboard tests: what TensorBoard's own readers (EventAccumulator, the
HParams plugin behind its HTTP routes) and tbparse see in a logdir."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

WALL_NS = 120
"""The wall-time guarantee, in ns: half of a double's step (2^-22 s) at dates before 2038."""

Point = tuple[int, float, int]
"""``(step, value, wall time ns)``."""


def accumulator(folder: Path) -> Any:
    """TensorBoard's EventAccumulator over ``folder``, every event kept (size 0 = all)."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def ea_scalars(folder: Path) -> dict[str, list[tuple[int, float, float]]]:
    """``{tag: [(step, value, wall_time seconds)]}`` of ``EventAccumulator.Scalars``."""
    acc = accumulator(folder)
    return {
        tag: [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }


def ea_tensor_scalars(folder: Path) -> dict[str, list[tuple[int, float, float]]]:
    """Like :func:`ea_scalars`, from scalar tensors of the ``scalars`` plugin."""
    from tensorboard.util import tensor_util

    acc = accumulator(folder)
    out = {}
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue
        out[tag] = [
            (e.step, float(tensor_util.make_ndarray(e.tensor_proto).item()), e.wall_time)
            for e in acc.Tensors(tag)
        ]
    return out


def wall_error_ns(seconds: float, ns: int) -> int:
    """How far a double of seconds is from ``ns``, exactly."""
    return abs(int(Fraction(seconds) * 10**9) - ns)


def same_value(a: float, b: float) -> bool:
    """Equal, NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def as_float32(v: float) -> float:
    """What a float32 ``simple_value`` holds of ``v``."""
    with np.errstate(over="ignore"):
        return float(np.float32(v))


def hparams_view(logdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(experiment, session groups)`` as the HParams dashboard gets them from its routes."""
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import hparams_plugin
    from tensorboard.plugins.scalar import scalars_plugin
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    mux = pem.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    ctx = base_plugin.TBContext(
        logdir=str(logdir),
        data_provider=data_provider.MultiplexerDataProvider(mux, str(logdir)),
        multiplexer=mux,
        plugin_name_to_instance={},
    )
    ctx.plugin_name_to_instance["scalars"] = scalars_plugin.ScalarsPlugin(ctx)
    plugin = hparams_plugin.HParamsPlugin(ctx)
    apps = plugin.get_plugin_apps()
    experiment = Client(apps["/experiment"], Response).post(
        "/experiment", json={"experimentName": ""}
    )
    groups = Client(apps["/session_groups"], Response).post(
        "/session_groups",
        json={
            "experimentName": "",
            "allowedStatuses": [
                "STATUS_UNKNOWN",
                "STATUS_SUCCESS",
                "STATUS_FAILURE",
                "STATUS_RUNNING",
            ],
            "startIndex": 0,
            "sliceSize": 1000,
            "colParams": [],
        },
    )
    assert experiment.status_code == 200, experiment.get_data(as_text=True)
    assert groups.status_code == 200, groups.get_data(as_text=True)
    return experiment.json, groups.json  # type: ignore[return-value]
