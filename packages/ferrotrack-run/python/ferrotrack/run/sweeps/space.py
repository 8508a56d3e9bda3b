"""Search spaces of a sweep: a grid (every combination) or a random search (seeded draws).

A point is a dict ``{dotted key: value}``; dotted keys reach nested settings of the model
run's config (``ModelRun.with_config`` applies them). The CLI's specs are parsed here too:
``lr=1e-3,1e-4`` (values read as YAML scalars by ``ferrotrack.run.yaml_scalars``, ``1e-3``
a float as in YAML 1.2, as in a model file) and ``lr=loguniform(1e-5,1e-1)``.
"""

from __future__ import annotations

import abc
import itertools
import math
import random
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.run.errors import RunPackageError
from ferrotrack.run.yaml_scalars import parse_scalar

__all__ = [
    "Choice",
    "Distribution",
    "Grid",
    "IntRange",
    "LogUniform",
    "RandomSearch",
    "SearchSpace",
    "SweepSpecError",
    "Uniform",
    "format_scalar",
    "parse_distribution",
    "parse_grid_spec",
    "parse_random_spec",
    "parse_scalar",
]

Point = dict[str, Any]


class SweepSpecError(RunPackageError, InvalidArgumentError):
    """A search space that cannot be used as given (names the key and what was expected)."""


# --- scalars ------------------------------------------------------------------------------


def format_scalar(value: Any) -> str:
    """The text :func:`parse_scalar` reads back as ``value`` (floats keep every digit)."""
    if isinstance(value, str):
        plain = value == value.strip() and not _SPECIAL.search(value)
        return value if plain and value and parse_scalar(value) == value else _quoted(value)
    if isinstance(value, float):
        return (
            repr(value)
            if math.isfinite(value)
            else {"inf": ".inf", "-inf": "-.inf"}.get(repr(value), ".nan")
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


_SPECIAL = re.compile(r"[,()\[\]{}'\"#\n\r\t]")


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _split_top_level(text: str) -> list[str]:
    """Splits on commas outside quotes and brackets."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise SweepSpecError(
            f"{where}: key {key!r}: expected a config key, dotted for nested settings "
            "('lr', 'optimizer.lr')"
        )
    return key


# --- distributions ------------------------------------------------------------------------


class Distribution(abc.ABC):
    """Where a random search draws one key's values from."""

    @abc.abstractmethod
    def sample(self, rng: random.Random) -> Any:
        """One draw."""

    @abc.abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a possible draw."""

    @abc.abstractmethod
    def spec(self) -> str:
        """The text :func:`parse_distribution` reads back as this distribution."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SweepSpecError(f"{what}: expected a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Uniform(Distribution):
    """A float drawn evenly from ``[low, high]``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = _number(self.low, "uniform low"), _number(self.high, "uniform high")
        if not low < high:
            raise SweepSpecError(f"uniform({low}, {high}): expected low < high")

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def contains(self, value: Any) -> bool:
        return isinstance(value, float) and self.low <= value <= self.high

    def spec(self) -> str:
        return f"uniform({format_scalar(float(self.low))},{format_scalar(float(self.high))})"


@dataclass(frozen=True)
class LogUniform(Distribution):
    """A float whose logarithm is drawn evenly: ``loguniform(1e-5, 1e-1)`` gives each decade
    the same chance (learning rates)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = _number(self.low, "loguniform low"), _number(self.high, "loguniform high")
        if not 0 < low < high:
            raise SweepSpecError(f"loguniform({low}, {high}): expected 0 < low < high")

    def sample(self, rng: random.Random) -> float:
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return min(max(value, self.low), self.high)  # exp(log(x)) may miss x by an ulp

    def contains(self, value: Any) -> bool:
        return isinstance(value, float) and self.low <= value <= self.high

    def spec(self) -> str:
        return f"loguniform({format_scalar(float(self.low))},{format_scalar(float(self.high))})"


@dataclass(frozen=True)
class IntRange(Distribution):
    """An integer drawn evenly from ``low`` to ``high``, both included."""

    low: int
    high: int

    def __post_init__(self) -> None:
        for name, value in (("low", self.low), ("high", self.high)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SweepSpecError(f"int {name}: expected an integer, got {value!r}")
        if not self.low <= self.high:
            raise SweepSpecError(f"int({self.low}, {self.high}): expected low <= high")

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def spec(self) -> str:
        return f"int({self.low},{self.high})"


@dataclass(frozen=True)
class Choice(Distribution):
    """One of ``options``, each as likely."""

    options: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.options:
            raise SweepSpecError("choice(): expected at least one option")

    def sample(self, rng: random.Random) -> Any:
        return self.options[rng.randrange(len(self.options))]

    def contains(self, value: Any) -> bool:
        return any(_same(value, option) for option in self.options)

    def spec(self) -> str:
        return f"choice({','.join(format_scalar(o) for o in self.options)})"


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type (``1``, ``1.0`` and ``True`` are three settings)."""
    return type(a) is type(b) and a == b


_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$", re.S)
_ARITY = {"uniform": 2, "loguniform": 2, "int": 2, "randint": 2}


def parse_distribution(text: str, where: str = "distribution") -> Distribution:
    """``uniform(a,b)``, ``loguniform(a,b)``, ``int(a,b)`` (or ``randint``: both ends
    included) or ``choice(x,y,...)``."""
    match = _CALL.match(text)
    if match is None:
        raise SweepSpecError(
            f"{where}: {text!r}: expected uniform(LOW,HIGH), loguniform(LOW,HIGH), "
            "int(LOW,HIGH) or choice(A,B,...)"
        )
    kind = match.group(1).lower()
    args = [parse_scalar(part) for part in _split_top_level(match.group(2))]
    if args == [""]:
        args = []
    wanted = _ARITY.get(kind)
    if kind != "choice" and wanted is None:
        raise SweepSpecError(
            f"{where}: unknown distribution {kind!r}; expected uniform, loguniform, int, "
            "randint or choice"
        )
    if wanted is not None and len(args) != wanted:
        raise SweepSpecError(f"{where}: {kind} takes {wanted} arguments, got {len(args)}")
    try:
        if kind == "uniform":
            return Uniform(args[0], args[1])
        if kind == "loguniform":
            return LogUniform(args[0], args[1])
        if kind in ("int", "randint"):
            return IntRange(args[0], args[1])
        return Choice(tuple(args))
    except SweepSpecError as exc:
        raise SweepSpecError(f"{where}: {exc}") from None


def _as_distribution(value: Any, where: str) -> Distribution:
    if isinstance(value, Distribution):
        return value
    if isinstance(value, str):
        return parse_distribution(value, where)
    if isinstance(value, Sequence):
        return Choice(tuple(value))
    raise SweepSpecError(
        f"{where}: expected a Distribution, a spec such as 'loguniform(1e-5,1e-1)' or a "
        f"list of choices, got {type(value).__name__}"
    )


# --- spaces -------------------------------------------------------------------------------


class SearchSpace(abc.ABC):
    """The points of a sweep, in order."""

    kind: str

    @abc.abstractmethod
    def points(self) -> list[Point]:
        """Every point, in the order they are run (point index = position)."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the sweep run records as its params."""

    @abc.abstractmethod
    def contains(self, point: Mapping[str, Any]) -> bool:
        """Whether ``point`` is one this space can give."""


@dataclass(frozen=True)
class Grid(SearchSpace):
    """Every combination of the values listed per key (the last key varies fastest)."""

    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    kind = "grid"

    @classmethod
    def of(cls, axes: Mapping[str, Iterable[Any]]) -> Grid:
        """A grid from ``{key: [values]}`` (a single non-list value is a one-value axis)."""
        if not isinstance(axes, Mapping) or not axes:
            raise SweepSpecError("grid: expected a non-empty mapping {key: [values, ...]}")
        checked: list[tuple[str, tuple[Any, ...]]] = []
        for key, values in axes.items():
            _check_key(key, "grid")
            options = (
                tuple(values)
                if isinstance(values, Iterable) and not isinstance(values, str | bytes | Mapping)
                else (values,)
            )
            if not options:
                raise SweepSpecError(f"grid: key {key!r}: expected at least one value")
            checked.append((key, options))
        return cls(tuple(checked))

    def __len__(self) -> int:
        return math.prod(len(values) for _, values in self.axes)

    def points(self) -> list[Point]:
        keys = [key for key, _ in self.axes]
        return [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(values for _, values in self.axes))
        ]

    def describe(self) -> dict[str, Any]:
        return {"kind": "grid", "grid": {key: list(values) for key, values in self.axes}}

    def contains(self, point: Mapping[str, Any]) -> bool:
        axes = dict(self.axes)
        return set(point) == set(axes) and all(
            any(_same(point[k], v) for v in axes[k]) for k in point
        )


@dataclass(frozen=True)
class RandomSearch(SearchSpace):
    """``samples`` points, each key drawn from its distribution; the same ``seed`` gives
    the same points. :meth:`of` draws a seed when none is given, so that every search
    built through it (every sweep) records the seed that reproduces it."""

    space: tuple[tuple[str, Distribution], ...]
    samples: int
    seed: int | None = None
    kind = "random"

    @classmethod
    def of(
        cls, space: Mapping[str, Any], *, samples: int | None, seed: int | None = None
    ) -> RandomSearch:
        """From ``{key: distribution}``: a :class:`Distribution`, a spec string or a list
        of choices; ``seed=None`` draws a seed (kept in :meth:`describe`)."""
        if not isinstance(space, Mapping) or not space:
            raise SweepSpecError("random: expected a non-empty mapping {key: distribution}")
        if samples is None:
            raise SweepSpecError("random: samples is required (how many points to draw)")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise SweepSpecError(f"samples: expected an integer >= 1, got {samples!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SweepSpecError(f"seed: expected an integer or None, got {seed!r}")
        checked = tuple(
            (_check_key(key, "random"), _as_distribution(value, f"random: key {key!r}"))
            for key, value in space.items()
        )
        return cls(checked, samples, secrets.randbits(32) if seed is None else seed)

    def __len__(self) -> int:
        return self.samples

    def points(self) -> list[Point]:
        rng = random.Random(self.seed)
        return [{key: dist.sample(rng) for key, dist in self.space} for _ in range(self.samples)]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "random",
            "random": {key: dist.spec() for key, dist in self.space},
            "samples": self.samples,
            "seed": self.seed,
        }

    def contains(self, point: Mapping[str, Any]) -> bool:
        space = dict(self.space)
        return set(point) == set(space) and all(space[k].contains(point[k]) for k in point)


# --- CLI specs ----------------------------------------------------------------------------


def _key_and_rest(spec: str, option: str, example: str) -> tuple[str, str]:
    key, sep, rest = spec.partition("=")
    if not sep or not rest.strip():
        raise SweepSpecError(f"{option} {spec!r}: expected KEY=... such as {example}")
    return _check_key(key.strip(), option), rest.strip()


def parse_grid_spec(spec: str) -> tuple[str, list[Any]]:
    """``lr=1e-3,1e-4`` -> ``("lr", [0.001, 0.0001])``; each value read as a YAML scalar
    (quote one holding a comma: ``name='a,b',c``)."""
    key, rest = _key_and_rest(spec, "--grid", "lr=1e-3,1e-4")
    values = [parse_scalar(part) for part in _split_top_level(rest)]
    return key, values


def parse_random_spec(spec: str) -> tuple[str, Distribution]:
    """``lr=loguniform(1e-5,1e-1)`` -> ``("lr", LogUniform(1e-05, 0.1))``."""
    key, rest = _key_and_rest(spec, "--random", "lr=loguniform(1e-5,1e-1)")
    return key, parse_distribution(rest, f"--random {key}")


def make_space(
    *,
    grid: Mapping[str, Iterable[Any]] | None = None,
    random: Mapping[str, Any] | None = None,
    samples: int | None = None,
    seed: int | None = None,
) -> SearchSpace:
    """The grid or the random search asked for (exactly one of them)."""
    if (grid is None) == (random is None):
        raise SweepSpecError(
            "a sweep needs exactly one space: grid={key: [values]} or random={key: "
            "distribution} with samples="
        )
    if grid is not None:
        if samples is not None or seed is not None:
            raise SweepSpecError("samples and seed apply to a random search, not to a grid")
        return Grid.of(grid)
    assert random is not None
    return RandomSearch.of(random, samples=samples, seed=seed)
