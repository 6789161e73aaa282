"""Slides: the tagging rules on a small notebook, and every deck built in the smoke profile."""

import copy
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from course_utils.clean import clean_notebook, dirty_cells
from course_utils.slides import (
    build_deck,
    draws_figure,
    export_slides,
    has_slide_metadata,
    main,
    section_headings,
    slide_types,
    split_sections,
    tag_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

SETUP = ('# Setup: in Colab, install the course helpers; locally they are already installed.\n'
         'import sys\nimport course_utils as cu\ndevice = cu.setup()')


def md(source, **metadata):
    return {"cell_type": "markdown", "metadata": dict(metadata), "source": source}


def code(source, **metadata):
    return {"cell_type": "code", "execution_count": None, "metadata": dict(metadata),
            "outputs": [], "source": source}


# (cell, the slide type the rules give it)
CELLS = [
    (md("# 01 · A title\n\nWhat you will learn: slides."), "slide"),
    (code(SETUP), "skip"),                                      # the setup cell
    (code("import math\n\nR = 1"), "skip"),                      # the imports cell
    (md("### The table we want"), "subslide"),
    (code("TABLE = {}"), "-"),
    (md("## 1 · First section\n\nSome text."), "slide"),
    (code("import copy\nx = 1"), "-"),                           # imports after §1 are shown
    (code("fig = cu.plot_bars({'a': 1}, 'acc')\nplt.show()"), "fragment"),
    (md("Next step of the story."), "subslide"),                 # text after code
    (code("y = 2"), "-"),
    (md("### A subsection\n\n" + "\n".join(f"line {i}" for i in range(12))), "subslide"),
    (code("\n".join(f"z{i} = {i}" for i in range(25))), "subslide"),  # too long to add
    (md("More text"), "subslide"),
    (code("\n".join(f"w{i} = {i}" for i in range(25))), "-"),   # a short intro keeps its code
    (code("print('not for slides')", tags=["slides-skip"]), "skip"),
    (md("## Summary\n\n- a\n\n## Exercises\n\n1. b"), "slide"),
]


def small_notebook():
    cells = copy.deepcopy([cell for cell, _ in CELLS])
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3",
                                                        "display_name": "Python 3",
                                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def without_slideshow(nb):
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        cell["metadata"].pop("slideshow", None)
    return nb


def real_notebook(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_headings_and_structure_give_the_slide_types():
    nb = small_notebook()
    assert not has_slide_metadata(nb)
    assert slide_types(nb) == [expected for _, expected in CELLS]
    tag_notebook(nb)
    assert has_slide_metadata(nb)
    assert [c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"]] == \
        [expected for _, expected in CELLS]


def test_figure_detection():
    assert draws_figure(code("fig = cu.show_images(x)"))
    assert draws_figure(code("fig, axes = plt.subplots(1, 2)"))
    assert draws_figure(code("ax.imshow(img)"))
    assert not draws_figure(code("print(cu.model_summary(model))"))
    assert not draws_figure(md("fig = plt.figure()"))


def test_tagging_is_idempotent_and_changes_nothing_else():
    original = small_notebook()
    once = tag_notebook(copy.deepcopy(original))
    twice = tag_notebook(copy.deepcopy(once))
    assert once == twice
    assert without_slideshow(once) == original
    assert tag_notebook(copy.deepcopy(once), overwrite=True) == once


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tagging_a_real_notebook_is_idempotent_and_changes_nothing_else(path):
    original = real_notebook(path)
    once = tag_notebook(copy.deepcopy(original))
    assert tag_notebook(copy.deepcopy(once)) == once
    assert without_slideshow(once) == without_slideshow(original)
    types = [c["metadata"]["slideshow"]["slide_type"] for c in once["cells"]]
    first_code = next(i for i, c in enumerate(once["cells"]) if c["cell_type"] == "code")
    assert types[0] == "slide" and types[first_code] == "skip"  # the title, the setup cell
    nbformat.validate(nbformat.from_dict(once))


def test_hand_set_slide_types_are_kept_unless_retagged():
    nb = small_notebook()
    nb["cells"][4]["metadata"]["slideshow"] = {"slide_type": "notes"}
    tagged = tag_notebook(copy.deepcopy(nb))
    assert tagged["cells"][4]["metadata"]["slideshow"]["slide_type"] == "notes"
    retagged = tag_notebook(copy.deepcopy(nb), overwrite=True)
    assert retagged["cells"][4]["metadata"]["slideshow"]["slide_type"] == "-"


def test_tagged_notebooks_are_clean_and_stay_tagged_through_clean():
    nb = tag_notebook(small_notebook())
    assert dirty_cells(nb) == []
    nb["cells"][4]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "1"}]
    nb["cells"][4]["execution_count"] = 1
    cleaned = clean_notebook(copy.deepcopy(nb))
    assert dirty_cells(cleaned) == []
    assert [c["metadata"].get("slideshow") for c in cleaned["cells"]] == \
        [c["metadata"].get("slideshow") for c in tag_notebook(small_notebook())["cells"]]


def test_split_sections_splits_only_in_memory_and_at_headings():
    nb = small_notebook()
    nb["cells"].append(md("Text that ends a section.\n\n## 2 · Next\n\n```python\n"
                          "# a comment, not a heading\n```"))
    nb["cells"][-1]["id"] = "last"
    before = copy.deepcopy(nb)
    split = split_sections(nb)
    assert nb == before
    sources = [c["source"] for c in split["cells"]]
    assert "## Summary\n\n- a" in sources and "## Exercises\n\n1. b" in sources
    assert "Text that ends a section." in sources
    assert "## 2 · Next\n\n```python\n# a comment, not a heading\n```" in sources
    assert len(split["cells"]) == len(nb["cells"]) + 2
    assert len({c["id"] for c in split["cells"]}) == len(split["cells"])
    types = slide_types(split)
    assert types[-4:] == ["slide", "slide", "-", "slide"]


def test_cli_tag_writes_only_slideshow_metadata(tmp_path):
    source = NOTEBOOKS[0]
    path = tmp_path / source.name
    untagged = without_slideshow(real_notebook(source))
    path.write_text(json.dumps(untagged, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["--tag", "--check", str(path)]) == 1
    assert main(["--tag", str(path)]) == 0
    assert main(["--tag", "--check", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    tagged = json.loads(text)
    assert without_slideshow(tagged) == without_slideshow(real_notebook(source))
    assert text == json.dumps(tagged, indent=1, ensure_ascii=False) + "\n"  # clean.py's format
    assert main(["--tag", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == text


class _Sections(HTMLParser):
    """Counts reveal.js slides: the top-level <section> elements of the deck."""

    def __init__(self):
        super().__init__()
        self.depth = self.slides = self.subslides = 0

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.slides += self.depth == 0
            self.subslides += self.depth == 1
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "section":
            self.depth -= 1


def slide_count(html):
    parser = _Sections()
    parser.feed(html)
    return parser.slides, parser.subslides


def test_export_of_a_small_notebook():
    html = export_slides(nbformat.from_dict(small_notebook()), "small", offline=True)
    assert slide_count(html)[0] == 4  # title, section 1, Summary, Exercises
    assert "cu.setup()" not in html and "not for slides" not in html  # skipped cells
    assert '"node_modules/reveal.js/dist/reveal.js"' in html  # --offline: the local copy


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_deck_builds_with_one_slide_per_section(path, tmp_path_factory):
    # Executes each notebook once more, in the smoke profile (conftest.py). Measured 2026-11-29
    # on the 2-core machine while it ran 6-8 other jobs: 14-172 s per notebook, 607 s for all
    # eight, 39% of that whole suite's 26 min (nbval's own run of the notebooks is the rest).
    out = tmp_path_factory.mktemp("slides")
    start = time.perf_counter()
    deck = build_deck(path, out, execute=True)
    print(f"{path.name}: deck built in {time.perf_counter() - start:.1f} s")
    assert deck == out / f"{path.stem}.slides.html" and deck.is_file()
    html = deck.read_text(encoding="utf-8")
    assert '<div class="reveal">' in html and "Reveal.initialize(" in html
    assert "/dist/reveal.js" in html
    assert '<meta name="course-profile" content="smoke" />' in html
    nb = real_notebook(path)
    sections = sum(len(section_headings(cell)) for cell in nb["cells"])
    slides, subslides = slide_count(html)
    assert slides == sections, f"{slides} slides for {sections} # / ## headings"
    assert subslides >= slides
    if any(draws_figure(cell) for cell in nb["cells"]):
        images = len(re.findall(r'<img[^>]+src="data:image/png;base64,', html))
        assert images >= 1, "the notebook draws figures but the deck embeds none"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_carry_their_slide_metadata(path):
    """A new cell without a slide type fails here: run python -m course_utils.slides --tag."""
    assert main(["--tag", "--check", str(path)]) == 0
