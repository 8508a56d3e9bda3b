"""Callbacks a pipeline runs at its start, after each epoch and at its end: the base
``callback.Callback`` and the built-in ``EarlyStopping``, ``CheckpointCallback`` and
``MetricsTracker``, built by name through ``callback_factory.CallbackFactory``."""
