"""``plots`` over a run of a million points: it works, and draws a bounded curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from postprocess_fixtures import model_with_run

from ferrotrack.postprocess.plots import PlotsPostprocessor


@pytest.mark.slow
def test_a_million_points_draw_one_bounded_figure(root: Path, tmp_path: Path) -> None:
    values = np.cumsum(np.random.default_rng(0).normal(size=1_000_000))
    model = model_with_run(tmp_path, {"walk": values})
    result = PlotsPostprocessor().process(model, formats=["png", "svg"], dpi=40)
    assert result["success"] is True, result
    png, svg = result["plots"]["walk"]
    assert imread(png).shape == (180, 320, 4)
    # the line drew at most max_points (2000) points (counted on the line matplotlib got,
    # not through the file: matplotlib simplifies paths on its own)
    assert 1_000 < result["points_drawn"]["walk"]["baseline"] <= 2_000
    assert Path(svg).read_text().rstrip().endswith("</svg>")
