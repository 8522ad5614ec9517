"""The README's "Use it from…" snippets are the files this suite runs."""

import pathlib

import pytest

from conftest import WORKSPACE

SNIPPETS = sorted((WORKSPACE / "tests" / "clients" / "snippets").iterdir())


@pytest.mark.parametrize("path", SNIPPETS, ids=lambda p: p.name)
def test_readme_shows_the_tested_snippet(path: pathlib.Path):
    readme = (WORKSPACE / "README.md").read_text()
    if "## Use it from" not in readme:
        pytest.skip("README has no 'Use it from' section yet")
    assert path.read_text().strip() in readme, f"README's snippet differs from snippets/{path.name}"
