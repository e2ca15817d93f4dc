"""The library example in README.md runs as written."""

import re

from tests.conftest import REPO


def test_readme_python_example_runs() -> None:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has a Python example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    history = namespace["history"]
    assert history.last["valid_accuracy"] >= 0.95  # type: ignore[attr-defined]
