"""Sweeps: a model run's config over a grid or a random search, each point a model run on
any run backend, the outcome a polars DataFrame (``ferrotrack sweep MODEL.yaml``)."""

from __future__ import annotations

from ferrotrack.run.sweeps.space import (
    Choice,
    Distribution,
    Grid,
    IntRange,
    LogUniform,
    RandomSearch,
    SearchSpace,
    SweepSpecError,
    Uniform,
    make_space,
    parse_distribution,
    parse_grid_spec,
    parse_random_spec,
)
from ferrotrack.run.sweeps.sweep import Sweep, run_sweep, sweep

__all__ = [
    "Choice",
    "Distribution",
    "Grid",
    "IntRange",
    "LogUniform",
    "RandomSearch",
    "SearchSpace",
    "Sweep",
    "SweepSpecError",
    "Uniform",
    "make_space",
    "parse_distribution",
    "parse_grid_spec",
    "parse_random_spec",
    "run_sweep",
    "sweep",
]
