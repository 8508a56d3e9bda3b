"""Settings of the ``tensorboard`` backend (``backend_configs.tensorboard``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ferrotrack.core.records import RunInfo

__all__ = ["DEFAULT_LOGDIR", "TensorboardConfig"]

DEFAULT_LOGDIR = "tensorboard"
"""The folder, in the run's folder, written when no ``logdir`` is given."""


class TensorboardConfig(BaseModel):
    """Where the event files go and how scalars are stored.

    ``logdir`` may hold ``{experiment}``, ``{name}`` and ``{run_id}``: point TensorBoard at
    a folder above several runs' logdirs (``~/tb/{experiment}/{name}-{run_id}``) to compare
    them. A relative path is taken from the run's folder, so that a live run and a later
    ``ferrotrack sync`` write the same folder.
    """

    model_config = ConfigDict(extra="forbid")

    logdir: Path | None = None
    """The run's TensorBoard folder; default ``<run folder>/tensorboard``. Rank 0 writes in
    it, rank ``r > 0`` in its subfolder ``rank<r>`` (a run of its own for TensorBoard)."""
    float64: bool = False
    """Store scalars as exact float64 tensors (TensorBoard's dashboard and
    ``EventAccumulator.Tensors`` read them); default float32 ``simple_value`` (what every
    reader takes, ``EventAccumulator.Scalars`` and tbparse's scalars included), values
    rounded to float32."""
    hparams: bool = True
    """Write the HParams dashboard's data: params at open, final status at the end."""
    experiment_summary: bool = True
    """With ``hparams``, also write the experiment (its param and metric columns) at the
    final status. TensorBoard takes one experiment summary per logdir it is pointed at, so
    when runs with different params share one, turn this off and let TensorBoard compute
    the columns from every run."""
    text: bool = True
    """Write events, tag changes, later params and statuses as text summaries (Text tab)."""
    fsync: bool = False
    """fsync after every batch (slower). Without it each batch is one ``write`` and the
    files are fsynced on ``flush()`` and at the final status."""

    def resolve(self, info: RunInfo) -> Path:
        """The logdir of the run ``info`` describes (rank 0's folder)."""
        if self.logdir is None:
            return info.run_dir / DEFAULT_LOGDIR
        text = str(self.logdir).format(
            run_id=info.run_id, experiment=info.experiment, name=info.name
        )
        path = Path(text).expanduser()
        return path if path.is_absolute() else info.run_dir / path
