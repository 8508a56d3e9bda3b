"""Search spaces: grids and random searches (properties by hypothesis), and the CLI's specs."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.run.sweeps.space import (
    Choice,
    Grid,
    IntRange,
    LogUniform,
    RandomSearch,
    SweepSpecError,
    Uniform,
    format_scalar,
    make_space,
    parse_distribution,
    parse_grid_spec,
    parse_random_spec,
    parse_scalar,
)

keys = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=1, max_size=3).map(
    ".".join
)
scalars = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.none(),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=8),
)
axes = st.dictionaries(keys, st.lists(scalars, min_size=1, max_size=4), min_size=1, max_size=4)


def _bounds(positive: bool) -> st.SearchStrategy[tuple[float, float]]:
    low = st.floats(1e-9 if positive else -1e6, 1e6, allow_nan=False)
    return st.tuples(low, low).filter(lambda b: b[0] < b[1])


distributions = st.one_of(
    _bounds(False).map(lambda b: Uniform(*b)),
    _bounds(True).map(lambda b: LogUniform(*b)),
    st.tuples(st.integers(-1000, 1000), st.integers(0, 50)).map(
        lambda t: IntRange(t[0], t[0] + t[1])
    ),
    st.lists(scalars, min_size=1, max_size=5).map(lambda o: Choice(tuple(o))),
)
random_spaces = st.dictionaries(keys, distributions, min_size=1, max_size=4)


@given(axes)
def test_a_grid_has_the_product_of_its_axes_and_only_points_of_the_space(
    grid: dict[str, list[Any]],
) -> None:
    space = Grid.of(grid)
    points = space.points()
    assert len(points) == len(space) == math.prod(len(v) for v in grid.values())
    for point in points:
        assert list(point) == list(grid)
        assert space.contains(point)
    first = {k: v[0] for k, v in grid.items()}
    assert points[0] == first


@given(random_spaces, st.integers(1, 30), st.integers(0, 2**32))
def test_a_seeded_random_search_is_reproducible_and_inside_the_space(
    space: dict[str, Any], samples: int, seed: int
) -> None:
    search = RandomSearch.of(space, samples=samples, seed=seed)
    points = search.points()
    assert len(points) == samples
    assert points == RandomSearch.of(space, samples=samples, seed=seed).points()
    for point in points:
        assert list(point) == list(space)
        assert search.contains(point)


@given(distributions)
def test_a_distribution_spec_reads_back_as_the_same_distribution(dist: Any) -> None:
    assert parse_distribution(dist.spec()) == dist


@given(scalars)
def test_a_formatted_scalar_reads_back_as_itself(value: Any) -> None:
    back = parse_scalar(format_scalar(value))
    assert type(back) is type(value)
    assert back == value


@given(keys, st.lists(scalars, min_size=1, max_size=5))
def test_a_grid_spec_reads_back_its_values(key: str, values: list[Any]) -> None:
    spec = f"{key}={','.join(format_scalar(v) for v in values)}"
    parsed_key, parsed = parse_grid_spec(spec)
    assert parsed_key == key
    assert [(type(v), v) for v in parsed] == [(type(v), v) for v in values]


def test_grid_specs_read_values_as_yaml_scalars() -> None:
    assert parse_grid_spec("lr=1e-3,1e-4") == ("lr", [0.001, 0.0001])
    assert parse_grid_spec("model.depth=2, 4") == ("model.depth", [2, 4])
    assert parse_grid_spec("opt=adam,sgd,'a,b',true,null") == (
        "opt",
        ["adam", "sgd", "a,b", True, None],
    )
    assert parse_grid_spec("v='1',.5,1E5") == ("v", ["1", 0.5, 100000.0])


def test_random_specs_name_their_distribution() -> None:
    assert parse_random_spec("lr=loguniform(1e-5,1e-1)") == ("lr", LogUniform(1e-5, 0.1))
    assert parse_random_spec("drop=uniform(0, 0.5)") == ("drop", Uniform(0.0, 0.5))
    assert parse_random_spec("layers=int(1,4)") == ("layers", IntRange(1, 4))
    assert parse_random_spec("layers=randint(1,4)") == ("layers", IntRange(1, 4))
    assert parse_random_spec("opt=choice(adam,sgd)") == ("opt", Choice(("adam", "sgd")))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("lr", "expected KEY=..."),
        ("=1,2", "expected a config key"),
        ("a..b=1", "expected a config key"),
        ("lr=normal(0,1)", "unknown distribution 'normal'"),
        ("lr=loguniform(0,1)", "expected 0 < low < high"),
        ("lr=uniform(2,1)", "expected low < high"),
        ("lr=uniform(1)", "uniform takes 2 arguments, got 1"),
        ("n=int(1.5,3)", "expected an integer"),
        ("lr=1e-3", "expected uniform(LOW,HIGH)"),
        ("opt=choice()", "expected at least one option"),
    ],
)
def test_bad_specs_say_what_was_expected(spec: str, expected: str) -> None:
    parse = parse_grid_spec if spec in ("lr", "=1,2", "a..b=1") else parse_random_spec
    with pytest.raises(SweepSpecError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse(spec)


def test_make_space_wants_exactly_one_space() -> None:
    with pytest.raises(SweepSpecError, match="exactly one space"):
        make_space()
    with pytest.raises(SweepSpecError, match="exactly one space"):
        make_space(grid={"a": [1]}, random={"b": "uniform(0,1)"}, samples=2)
    with pytest.raises(SweepSpecError, match="samples is required"):
        make_space(random={"b": "uniform(0,1)"})
    with pytest.raises(SweepSpecError, match="samples and seed apply to a random search"):
        make_space(grid={"a": [1]}, seed=3)
    with pytest.raises(SweepSpecError, match="samples: expected an integer >= 1"):
        make_space(random={"b": [1, 2]}, samples=0)
    with pytest.raises(SweepSpecError, match="key 'a': expected at least one value"):
        make_space(grid={"a": []})
    assert issubclass(SweepSpecError, InvalidArgumentError)


def test_random_space_takes_specs_lists_and_distributions() -> None:
    search = RandomSearch.of(
        {"lr": "loguniform(1e-4,1e-1)", "opt": ["adam", "sgd"], "n": IntRange(1, 3)},
        samples=50,
        seed=7,
    )
    points = search.points()
    assert {p["opt"] for p in points} == {"adam", "sgd"}
    assert {p["n"] for p in points} == {1, 2, 3}
    assert all(1e-4 <= p["lr"] <= 1e-1 for p in points)
    assert search.describe() == {
        "kind": "random",
        "random": {"lr": "loguniform(0.0001,0.1)", "opt": "choice(adam,sgd)", "n": "int(1,3)"},
        "samples": 50,
        "seed": 7,
    }
    assert points != RandomSearch.of(dict(search.space), samples=50, seed=8).points()
