"""The report's HTML assembly: embedded data reads back as written whatever its strings
hold, inlined code cannot close its element, and the module joiner refuses what it cannot
join safely."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.ui.data import series
from ferrotrack.ui.report.build import EXACT, collect_report, decode_times, encode_times
from ferrotrack.ui.report.bundle import (
    BundleError,
    bundle_modules,
    embed_json,
    inline_script,
    json_ready,
    read_embedded,
    render_report,
    static_folder,
)

TRICKY = st.sampled_from(["</script>", "<!--", "</SCRIPT ", "&amp;", "\u2028", "\u2029", "<b>"])
TEXT = st.one_of(st.text(), st.lists(st.one_of(st.text(max_size=5), TRICKY)).map("".join))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=20,
)


def page_with(data: Any) -> str:
    return f'<script type="application/json" id="ferrotrack-data">{embed_json(data)}</script>'


@given(DATA)
def test_embedded_data_reads_back(data: Any) -> None:
    text = embed_json(data)
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert read_embedded(page_with(data)) == json_ready(data)


@given(DATA)
def test_json_ready_has_no_non_finite_numbers(data: Any) -> None:
    ready = json_ready(data)
    json.dumps(ready, allow_nan=False)  # raises on NaN or an infinity
    if isinstance(data, float):
        assert ready == (data if math.isfinite(data) else None)


@given(st.lists(st.one_of(st.text(max_size=8), TRICKY)).map("".join))
def test_inlined_code_cannot_close_its_element(code: str) -> None:
    out = inline_script(code)
    assert "</script" not in out.lower()
    assert out.replace("<\\/", "</") == code.replace("<\\/", "</")


def test_modules_are_joined_dependencies_first() -> None:
    sources = {
        "app.js": 'import { b } from "./b.js";\nimport { a } from "./a.js";\nb(a);\n',
        "a.js": "export const a = 1;\n",
        "b.js": 'import { a } from "./a.js";\nexport function b(x) { return x + a; }\n',
    }
    joined = bundle_modules(sources)
    assert "import" not in joined
    assert "export" not in joined
    assert joined.index("const a") < joined.index("function b") < joined.index("b(a);")


@pytest.mark.parametrize(
    ("sources", "problem"),
    [
        ({"app.js": 'import { x } from "./gone.js";\n'}, "imports missing gone.js"),
        ({"app.js": 'import { y } from "./a.js";\n', "a.js": "export const x = 1;\n"},
         "does not export"),
        ({"app.js": 'import { x } from "./a.js";\n', "a.js": 'import { y } from "./app.js";\n'
          "export const x = 1;\n"}, "import each other"),
        ({"app.js": 'import { x } from "./a.js";\nconst x2 = 1;\nfunction helper() {}\n',
          "a.js": "export const x = 1;\nfunction helper() {}\n"}, "'helper' is declared by"),
        ({"app.js": "export default 1;\n"}, "unsupported module syntax"),
        ({"app.js": "import * as a from './a.js';\n"}, "unsupported module syntax"),
    ],
)  # fmt: skip
def test_unjoinable_modules_are_refused(sources: dict[str, str], problem: str) -> None:
    with pytest.raises(BundleError, match=problem):
        bundle_modules(sources)


def test_report_page_needs_no_other_file() -> None:
    html = render_report({"runs": [], "title": "</script><script>bad()</script>"})
    assert read_embedded(html)["title"] == "</script><script>bad()</script>"
    assert "/static/" not in html  # stylesheet, plotly.js and modules are all inline
    assert 'type="module" src' not in html
    assert html.count('<script type="module">') == 1
    assert "Plotly" in html


def test_static_code_never_writes_markup() -> None:
    """User strings go in as text: no module uses the APIs that parse markup."""
    for path in static_folder().glob("*.js"):
        code = path.read_text()
        for api in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert api not in code, f"{path.name} uses {api}"


NS = st.integers(-(2**63), 2**63 - 1)


@given(st.lists(NS, max_size=50), NS)
def test_point_times_read_back(times: list[int], origin: int) -> None:
    encoded = encode_times(times, origin)
    assert decode_times(json.loads(embed_json(encoded))) == (times, origin)
    # every number JavaScript reads is exact; larger differences travel as text
    assert all(isinstance(d, str) or abs(d) <= EXACT for d in encoded["d"])
    assert isinstance(encoded["origin"], str)


def test_report_embeds_the_times_of_its_points(root: Path) -> None:
    with ft.start_run("timed", root=root) as run:
        for step in (*range(30, 60), *range(30)):  # logged out of step order
            run.log("loss", float(step), step=step)
    data = collect_report(root, points=1000)
    entry = data["series"][run.run_id]["loss"]
    assert entry["x"] == list(range(60))  # the step axis, as before
    times, origin = decode_times(entry["times"])
    assert origin == json.loads((Path(run.run_dir) / "run.json").read_text())["started"]
    for kind in ("wall", "relative"):
        server = series(root, [run.run_id], "loss", x=kind)["series"][0]
        pairs = sorted(zip(times, entry["y"], strict=True), key=lambda p: p[0])
        wall = [t / 1e6 if kind == "wall" else (t - origin) / 1e9 for t, _ in pairs]
        assert wall == server["x"]
        assert [y for _, y in pairs] == server["y"]
    # what the times add to the file: a few bytes a point (differences, not whole times)
    size = len(embed_json(entry["times"]))
    assert size < 12 * len(times) + 40
