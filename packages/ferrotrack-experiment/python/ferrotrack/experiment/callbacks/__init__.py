"""callbacks of ferrotrack.experiment."""
