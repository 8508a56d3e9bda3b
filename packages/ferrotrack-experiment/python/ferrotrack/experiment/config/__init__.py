"""config of ferrotrack.experiment."""
