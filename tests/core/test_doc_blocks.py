"""run_doc_blocks, the docs tests' one checker: a page's blocks print what they promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import promised_output, python_blocks, run_doc_blocks

PAGE = """Text.

```python
x = 2
print(x)  # 2
```

```py
print("not run")  # nothing
```

```python
print(x + 1)  # 3  (x is kept from the block above)
```
"""


def test_blocks_share_a_namespace_and_notes_are_not_promised(tmp_path: Path) -> None:
    blocks = python_blocks(PAGE)
    assert len(blocks) == 2  # ```py is illustrative
    assert promised_output(blocks[1]) == ["3"]
    assert run_doc_blocks(tmp_path / "page.md", blocks, module="page") == 2


@pytest.mark.parametrize(
    "block",
    [
        "print(1)  # 2\n",  # a wrong promise
        "print(1)  # 1\nprint(5)\n",  # a line printed but never promised
        "print(1)  # 1\nprint(end='')  # 2\n",  # a promise never printed
    ],
)
def test_a_broken_promise_fails(tmp_path: Path, block: str) -> None:
    with pytest.raises(AssertionError, match=r"page\.md"):
        run_doc_blocks(tmp_path / "page.md", [block], module="page")


def test_lines_a_library_prints_itself_can_be_set_aside(tmp_path: Path) -> None:
    block = 'print("Lib: hello")\nprint(1)  # 1\n'
    with pytest.raises(AssertionError):
        run_doc_blocks(tmp_path / "page.md", [block], module="page")
    assert run_doc_blocks(tmp_path / "page.md", [block], module="page", ignore=("Lib:",)) == 1
