"""trackers of ferrotrack.experiment."""
