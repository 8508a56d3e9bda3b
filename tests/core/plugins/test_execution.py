"""Execution interfaces in core: run backends, postprocessors, pipeline backends (seed 003).

The example distribution (tests/plugins/example_plugin) declares one of each; a pipeline
backend there runs a run backend and a postprocessor that it finds by name through core
only. Seed 003's own classes are installed as a throw-away distribution (a ``.dist-info``
folder on ``sys.path``) and load through the ``ferrotrack.*`` groups.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError, InvalidValueError, MissingDependencyError
from ferrotrack.core.plugins import PluginManager, PluginType
from ferrotrack.core.plugins.execution import (
    ModelRun,
    PipelineBackend,
    Postprocessor,
    RunBackend,
    execution_plugin_names,
    get_execution_plugin,
    load_execution_plugin,
)

SEEDS = [Path(__file__).parents[4] / "shared" / "seeds", Path("/work/shared/seeds")]
SEED = next(p for folder in SEEDS for p in sorted(folder.glob("003_*.txt")))


@dataclass
class FakeModelRun:
    """The smallest :class:`ModelRun`: a folder, a generate() that fills it, a tracked run."""

    run_id: str
    output_dir: Path
    tracked_run: ft.Run | None = None
    generated: list[Path] = field(default_factory=list)

    def generate(self) -> Path:
        folder = Path(self.output_dir) / self.run_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "input.txt").write_text("x")
        self.generated.append(folder)
        return folder


def test_a_model_run_double_follows_the_protocol(tmp_path: Path) -> None:
    assert isinstance(FakeModelRun("m1", tmp_path), ModelRun)
    assert not isinstance(object(), ModelRun)


def test_each_kind_is_found_in_its_own_group_only() -> None:
    assert "example_echo" in execution_plugin_names("run")
    assert "example_count" in execution_plugin_names(PluginType.POSTPROCESS)
    assert "example_local" in execution_plugin_names("pipeline")
    assert "example_echo" not in execution_plugin_names("postprocess")
    assert isinstance(get_execution_plugin("run", "example_echo"), RunBackend)
    assert isinstance(get_execution_plugin("postprocess", "example_count"), Postprocessor)
    assert isinstance(get_execution_plugin("pipeline", "example_local"), PipelineBackend)


def test_unknown_names_and_kinds_are_clear_errors() -> None:
    with pytest.raises(InvalidArgumentError, match=r"no run plugin named 'nope'.*example_echo"):
        load_execution_plugin("run", "nope")
    with pytest.raises(InvalidArgumentError, match=r"'backend' is not an execution plugin kind"):
        load_execution_plugin("backend", "example_jsonl")


def test_a_pipeline_calls_a_postprocessor_found_only_by_name(root: Path, tmp_path: Path) -> None:
    """The pipeline (one module) never imports the postprocessor: it asks core by name.
    The run backend logs to the model run's tracked run."""
    with ft.start_run("model") as run:
        model_run = FakeModelRun("m1", tmp_path / "out", tracked_run=run)
        pipeline = get_execution_plugin("pipeline", "example_local")
        results = pipeline.execute(model_run, run_kwargs={"value": 3})
    assert results["success"] is True
    assert results["stages_completed"] == ["run", "postprocess"]
    assert results["outputs"]["files"] == ["input.txt", "output.json"]
    assert ft.metrics(runs=[run.run_id]).collect()["name"].cast(str).to_list() == ["run/ok"]
    failed = pipeline.execute(FakeModelRun("m2", tmp_path / "out"), run_kwargs={"fail": True})
    assert failed["success"] is False
    assert failed["stages_completed"] == []


def test_the_plugin_manager_lists_execution_plugins_plain_or_not() -> None:
    """A plain seed-003 class is listed with metadata made from its entry point."""
    manager = PluginManager()
    infos = {i.name: i for i in manager.plugins(PluginType.RUN)}
    assert infos["example_echo"].available
    assert infos["example_echo"].version == "0.3.1"
    assert manager.info("example_count", PluginType.POSTPROCESS).metadata is not None


def seed_python_blocks() -> list[str]:
    """Every ``.. code-block:: python`` of seed 003, dedented."""
    text = SEED.read_text(encoding="utf-8")
    pattern = r"\.\. code-block:: python\n\n((?:(?: {4}.*)?\n)+)"
    return [textwrap.dedent(b) for b in re.findall(pattern, text)]


def seed_class(name: str) -> str:
    found = [b for b in seed_python_blocks() if f"class {name}" in b]
    assert len(found) == 1
    return found[0]


PRELUDE = """\
import logging
from pathlib import Path

logger = logging.getLogger(__name__)
"""
"""The imports seed 003's classes use without writing them."""

DONE = '''

class CustomRunBackendDone(CustomRunBackend):
    """With the helper the seed leaves to the reader."""

    def _execute_custom_logic(self, model_run, **kwargs):
        return True


class AnalysisPostprocessorDone(AnalysisPostprocessor):
    def _calculate_metrics(self, output_dir):
        return {"files": len(list(output_dir.iterdir()))}

    def _generate_plots(self, output_dir):
        return []
'''


@pytest.fixture
def seed_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Seed 003's three classes in a distribution found by entry points (``rompy.*``
    groups renamed ``ferrotrack.*``)."""
    site = tmp_path / "site"
    package = site / "seed003_plugins"
    package.mkdir(parents=True)
    code = "\n\n".join(
        seed_class(n) for n in ("CustomRunBackend", "AnalysisPostprocessor", "CloudPipelineBackend")
    )
    (package / "__init__.py").write_text(PRELUDE + code + DONE)
    (package / "needs_lib.py").write_text("import surely_not_installed_lib\n")
    (package / "not_a_class.py").write_text("thing = 3\n")
    info = site / "seed003_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seed003-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[ferrotrack.run]\n"
        "custom = seed003_plugins:CustomRunBackend\n"
        "custom_done = seed003_plugins:CustomRunBackendDone\n"
        "needs_lib = seed003_plugins.needs_lib:Backend\n"
        "not_a_class = seed003_plugins.not_a_class:thing\n"
        "[ferrotrack.postprocess]\n"
        "analysis = seed003_plugins:AnalysisPostprocessor\n"
        "analysis_done = seed003_plugins:AnalysisPostprocessorDone\n"
        "[ferrotrack.pipeline]\n"
        "cloud = seed003_plugins:CloudPipelineBackend\n"
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def test_seed_003_classes_load_through_the_groups_and_answer_in_shape(
    seed_distribution: Path, tmp_path: Path
) -> None:
    model_run = FakeModelRun("m1", tmp_path / "out")
    # As written, the seed's helpers are left to the reader: its own except clauses answer.
    assert get_execution_plugin("run", "custom").run(model_run) is False
    assert model_run.generated  # generate() ran first
    assert get_execution_plugin("run", "custom_done").run(model_run) is True
    analysis = get_execution_plugin("postprocess", "analysis").process(model_run)
    assert analysis["success"] is False
    assert "Analysis failed" in analysis["message"]
    done = get_execution_plugin("postprocess", "analysis_done").process(model_run)
    assert done == {
        "success": True,
        "metrics": {"files": 1},
        "plots": [],
        "message": "Analysis completed successfully",
    }
    cloud = get_execution_plugin("pipeline", "cloud").execute(model_run)
    assert cloud["run_id"] == "m1"
    assert cloud["stages_completed"] == ["generate"]
    assert cloud["success"] is False


def test_broken_execution_entry_points_are_typed_errors(seed_distribution: Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"surely_not_installed_lib.*pip install"):
        load_execution_plugin("run", "needs_lib")
    with pytest.raises(InvalidValueError, match=r"must be a class with a run\(\) method"):
        load_execution_plugin("run", "not_a_class")


# --- run_many / run_in_pool: many model runs through any backend ----------------------------


def test_run_in_pool_keeps_order_and_the_limit() -> None:
    import threading

    from ferrotrack.core.plugins.execution import run_in_pool

    lock = threading.Lock()
    running = peak = 0
    gate = threading.Barrier(2, timeout=10)

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if i < 2:
            gate.wait()  # the first two meet: both ran at once
        with lock:
            running -= 1
        return i * i

    assert run_in_pool(work, list(range(8)), 2) == [i * i for i in range(8)]
    assert peak == 2


def test_run_in_pool_aborts_on_an_error_and_calls_on_abort() -> None:
    from ferrotrack.core.plugins.execution import run_in_pool

    aborted: list[bool] = []

    def work(i: int) -> int:
        if i == 0:
            raise RuntimeError("boom")
        return i

    with pytest.raises(RuntimeError, match="boom"):
        run_in_pool(work, [0, 1, 2], 1, on_abort=lambda: aborted.append(True))
    assert aborted == [True]
    with pytest.raises(InvalidArgumentError, match="max_concurrency"):
        run_in_pool(work, [1], 0)


def test_run_many_prefers_a_native_run_many_else_pools_run() -> None:
    from ferrotrack.core.plugins.execution import run_many

    class Plain:
        def run(self, model_run: object, **kwargs: object) -> bool:
            return model_run == "ok"

    class Native(Plain):
        def run_many(self, runs: list[object], **kwargs: object) -> list[str]:
            return ["yes" for _ in runs]  # truthy: run_many makes each a bool

    assert run_many(Plain(), ["ok", "no", "ok"], max_concurrency=2) == [True, False, True]
    assert run_many(Native(), ["no", "no"]) == [True, True]
