"""Every exercise has a solution, folded away after the exercises; CI runs them (nbval, smoke)."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell):
    return "".join(cell["source"])


def exercise_numbers(text: str) -> list[int]:
    """The numbers of the top-level items of the exercises list ('1. **Title** ...')."""
    return [int(n) for n in re.findall(r"^(\d+)\. ", text, re.M)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_solution(path):
    nb = cells(path)
    exercises = [i for i, c in enumerate(nb)
                 if c["cell_type"] == "markdown" and re.search(r"^## Exercises", source(c), re.M)]
    assert len(exercises) == 1, "one '## Exercises' cell"
    text = source(nb[exercises[0]])
    numbers = exercise_numbers(text[text.index("## Exercises"):])
    assert numbers == list(range(1, len(numbers) + 1)) and numbers, "exercises numbered 1..N"
    heading = [c for c in nb if re.match(r"## Solutions", source(c))]
    assert len(heading) == 1, "one '## Solutions' section"
    assert heading[0]["metadata"].get("jp-MarkdownHeadingCollapsed") is True, "folded by default"
    assert nb.index(heading[0]) > exercises[0], "the solutions come after the exercises"
    solved = [int(m.group(1)) for c in nb if c["cell_type"] == "markdown"
              for m in [re.match(r"### Solution (\d+)\b", source(c))] if m]
    assert solved == numbers, f"one '### Solution N' per exercise, in order: {solved}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solution_code_is_hidden_until_asked(path):
    code = [c for c in cells(path) if c["cell_type"] == "code"
            and "solution" in c["metadata"].get("tags", [])]
    assert code, "at least one solution runs code"
    for c in code:
        assert c["metadata"].get("jupyter", {}).get("source_hidden") is True
        assert source(c).startswith("# @title Solution"), "Colab shows only the title"
