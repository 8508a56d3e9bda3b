"""Trackers: where an experiment's metrics, levels and checkpoints go.

Everything is written into the ferrotrack run of its level by the ``TrackerManager``;
``Tracker`` subclasses (user code) see the same calls; backends named in ``env.yaml``
(``BackendTracker``) are fed by ferrotrack's delivery, not from the training loop.
``TrackerFactory`` builds either from a config's ``type``.
"""
