"""Seed 001, "Not managing epoch lifecycle": the guide's block, a fragment run by
``common_mistakes.py`` with ``self`` (the pipeline) and ``epochs`` as its globals."""
# fmt: off
# ruff: noqa: F821, B007
# mypy: ignore-errors

for epoch in range(epochs):
    # Missing epoch lifecycle management
    train_loss = self.train_one_epoch()
    # Won't properly track epoch boundaries
