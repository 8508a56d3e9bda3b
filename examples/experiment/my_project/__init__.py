"""The guide's ``my_project`` package (seed 000, "Complete Working Example").

Importing it registers the pipeline its config names (context the guide leaves out).
Run from ``examples/experiment``: ``python -m my_project.run_experiment``, or from anywhere
with ``PYTHONPATH=examples/experiment python examples/experiment/my_project/run_experiment.py``.
"""

from . import pipelines

__all__ = ["pipelines"]
