"""pipelines of ferrotrack.experiment."""
