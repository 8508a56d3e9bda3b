# ferrotrack development recipes. No `just` yet? Run `./just <recipe>`: it installs one into .venv/.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".venv"
py := venv / "bin/python"
export PATH := venv / "bin" + ":" + env_var("PATH")
export VIRTUAL_ENV := venv

# List the recipes.
default:
    @just --list

# Create .venv/ with every package editable and the extension built (release); fast when up to date.
setup:
    bash scripts/setup.sh

# The demo: log real runs, then show what was stored and the analysis.
demo: setup
    {{py}} examples/demo.py

# All tests: Rust (cargo test) and Python (pytest, slow integration tests included).
test: setup
    cargo test --quiet
    {{py}} -m pytest -q

# Crash-safety under stress: 200 random SIGKILLs of a logging process.
stress: setup
    FERROTRACK_KILLS=200 {{py}} -m pytest -q tests/core/test_crash.py

# Lint everything: ruff, mypy, rustfmt, clippy.
lint: setup
    {{py}} -m ruff check .
    {{py}} -m ruff format --check .
    {{py}} -m mypy
    {{py}} -m mypy packages/ferrotrack-experiment/tests
    {{py}} -m mypy packages/ferrotrack-run/tests
    {{py}} -m mypy packages/ferrotrack-postprocess/tests
    {{py}} -m mypy packages/ferrotrack-collectors/tests
    {{py}} -m mypy packages/ferrotrack-frameworks/tests
    {{py}} -m mypy packages/ferrotrack-ui/tests
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings

# Format Python and Rust sources.
fmt: setup
    {{py}} -m ruff check --fix .
    {{py}} -m ruff format .
    cargo fmt --all

# Benchmarks: write their tables to docs/benchmarks.md.
bench: setup
    {{py}} bench/log_throughput.py
    {{py}} bench/experiment.py
    {{py}} bench/run.py
    {{py}} bench/collectors.py
    {{py}} bench/frameworks.py
    {{py}} bench/ui.py
    {{py}} bench/ui_browser.py
    cargo bench -p ferrotrack-store --quiet -- --quick

# Peer trackers side by side (installs them into .venv-peers/ on first use).
peers: setup
    {{py}} bench/peers.py

# Build a wheel of every distribution in packages/ into dist/ (core with maturin, release).
wheels: setup
    bash scripts/wheels.sh dist
