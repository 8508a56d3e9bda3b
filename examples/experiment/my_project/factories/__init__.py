"""The project's custom factories."""
