"""Example ferrotrack plugins, declared only through entry points (see pyproject.toml)."""
