"""Pipelines: the user's training code (``pipeline.Pipeline`` with ``@Pipeline.run_wrapper``
and ``@Pipeline.epoch_wrapper``, ``StopTraining``) and ``pipeline_factory.PipelineFactory``,
which builds one by its registered name with the callbacks its config lists."""
