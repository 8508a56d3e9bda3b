"""The three cases of seed 000's "Troubleshooting" section, one module each, run by
``../run_troubleshooting.py``."""
