"""An experiment's config directory: reading and checking its YAML files (``files``) and
expanding them into trials and trial runs (``expand``).

>>> cfg = load_config_dir("configs/my_experiment")      # doctest: +SKIP
>>> runs = trial_runs(expand_trials(cfg))                # doctest: +SKIP
>>> runs[0].config().pipeline.epochs                     # doctest: +SKIP
"""

from __future__ import annotations

from ferrotrack.experiment.config.expand import (
    PLACEHOLDER,
    SettingsOrigin,
    TrialRunSpec,
    TrialSpec,
    expand_trials,
    trial_runs,
)
from ferrotrack.experiment.config.files import ConfigDir, load_config_dir

__all__ = [
    "PLACEHOLDER",
    "ConfigDir",
    "SettingsOrigin",
    "TrialRunSpec",
    "TrialSpec",
    "expand_trials",
    "load_config_dir",
    "trial_runs",
]
