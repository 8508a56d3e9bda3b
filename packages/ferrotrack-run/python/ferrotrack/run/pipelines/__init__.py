"""Pipeline backends (group ``ferrotrack.pipeline``): generate, run and postprocess."""
