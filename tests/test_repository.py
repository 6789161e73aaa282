"""Repository rules: clean notebooks that follow the conventions, ruff-clean code, README."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.clean import clean_notebook, dirty_cells

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


SETUP_CELL = """# Setup: in Colab, install the course helpers; locally they are already installed.
import sys
if "google.colab" in sys.modules:
    %pip install -q "course-utils @ git+https://github.com/cnn-course/cnn-architectures"
import torch
from torch import nn
import course_utils as cu
device = cu.setup()  # prints the device and the profile, seeds everything"""


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    cells = dirty_cells(load(path))
    assert not cells, (f"{path.name}: cells {cells} carry outputs or execution counts; run "
                       f"python -m course_utils.clean notebooks/{path.name}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_conventions(path):
    nb = load(path)
    cells = nb["cells"]
    first = "".join(cells[0]["source"])
    assert first.startswith("# "), "the first cell is a markdown title"
    assert "colab.research.google.com" in first, "the title cell carries the Colab badge"
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert re.search(r"what you will learn", markdown, re.I)
    assert re.search(r"^#+ .*summary", markdown, re.I | re.M)
    assert re.search(r"^#+ .*exercises", markdown, re.I | re.M)
    assert f"/blob/main/notebooks/{path.name})" in first, "the Colab badge opens this notebook"
    code = [("".join(c["source"])) for c in cells if c["cell_type"] == "code"]
    assert code[0] == SETUP_CELL, "the first code cell is the standard setup cell (CONTRIBUTING.md)"
    forbidden = "/".join(["..", "shared"])  # the manual-check folder students never have
    assert forbidden not in "".join(code)
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


def test_clean_tool_strips_outputs(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": "1", "outputs": [{"x": 1}],
                     "execution_count": 3, "metadata": {}}], "metadata": {}}
    assert dirty_cells(nb) == [0]
    assert dirty_cells(clean_notebook(nb)) == []


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_lists_every_notebook_and_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert path.name in readme, f"README does not list {path.name}"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest" in ci and "python -m pytest" in readme


def test_contributing_shows_the_setup_cell_the_notebooks_use():
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    indented = "\n".join("   " + line for line in SETUP_CELL.splitlines())
    assert indented in contributing
