"""``python -m ferrotrack.core.cli`` runs the ``ferrotrack`` command."""

from ferrotrack.core.cli.app import main

main()
