"""Run backends: each executes a model run somewhere and records it as a ferrotrack run.

Found by entry point (group ``ferrotrack.run``); the heavy ones import their library only
when they run.
"""
