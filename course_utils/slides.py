"""Slides for every notebook: reveal.js decks built with ``jupyter nbconvert --to slides``.

Usage::

    python -m course_utils.slides --execute            # run each notebook, write slides/*.html
    python -m course_utils.slides                      # from the outputs saved in the notebooks
    COURSE_PROFILE=smoke python -m course_utils.slides --execute notebooks/01_cnn_basics.ipynb
    python -m course_utils.slides --execute --offline  # decks that present without a network
    python -m course_utils.slides --tag                # write the slide metadata into notebooks

**Where the slides start** (``cell.metadata["slideshow"]["slide_type"]``, the field JupyterLab's
property inspector, RISE and nbconvert read), from the notebook's structure:

* the title (``# ``) and every section (``## ``) start a **slide** (reveal.js: left/right);
* every ``### `` heading starts a **subslide** (up/down inside the section);
* a markdown cell that follows a code cell starts a **subslide**: the next step of the story;
* a cell that would make the current (sub)slide longer than about :data:`BUDGET_LINES` lines
  (a figure counts as :data:`FIGURE_LINES`) starts a **subslide**, so long cells stay readable,
  unless the (sub)slide so far is a short introduction (under a third of that): the code stays
  with the text that introduces it, and a (sub)slide taller than the screen scrolls;
* a code cell that draws a figure (``plt.``, ``cu.show_images``, ``cu.plot_*``, ``fig = ``) and
  is not the first cell of its subslide is a **fragment**: the figure builds up on a click;
* the setup cell, the imports cell before the first section (its first statement is an
  import), and any cell tagged ``slides-skip`` or ``remove-cell`` are **skip**: they run, but
  are not shown;
* everything else is ``-``: it continues the current (sub)slide.

A cell that already has a slide type keeps it (edit it by hand in JupyterLab's property
inspector), unless ``overwrite=True`` (``--tag --retag``). The rules depend only on the cells,
so tagging twice gives the same notebook, and nothing but ``metadata.slideshow`` changes;
``course_utils.clean`` keeps that metadata.

**Building** (:func:`build_deck`) works on an in-memory copy: markdown cells that hold several
``#``/``##``/``###`` headings are split at them (so "Summary" and "Exercises" are two slides
even in one cell), cells without a slide type get one from the rules above, the notebook runs
(``--execute``: nbconvert's ``ExecutePreprocessor``, in whatever profile ``COURSE_PROFILE`` /
``SMOKE_TEST`` select, with matplotlib's inline backend so that figures become PNG outputs)
and nbconvert's ``SlidesExporter`` writes one HTML file with every figure embedded as a
base64 PNG. reveal.js, require.js, jQuery and MathJax load from nbconvert's CDN URLs unless
``--offline`` (a local copy from npm, next to the decks) or ``--reveal-prefix`` says otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
SKIP_TAGS = frozenset({"slides-skip", "remove-cell", "remove_cell"})
BUDGET_LINES = 30   # about what fits on a 1280 x 800 reveal.js slide at DECK_CSS's fonts
FIGURE_LINES = 16   # a matplotlib figure, counted in lines of text
TEXT_WIDTH = 100    # characters per line before a markdown line wraps
DECK_WIDTH, DECK_HEIGHT = 1280, 800

# Local reveal.js & co. for --offline (npm packages, installed next to the decks). reveal.js is
# pinned to the version of nbconvert's own CDN default, which its template is written for.
OFFLINE_PACKAGES = {
    "reveal.js": "reveal.js@4.0.2",
    "requirejs": "requirejs@2.3.7",
    "jquery": "jquery@2.2.4",
    "mathjax": "mathjax@2.7.7",
}
OFFLINE_URLS = {
    "reveal_url_prefix": "node_modules/reveal.js",
    "require_js_url": "node_modules/requirejs/require.js",
    "jquery_url": "node_modules/jquery/dist/jquery.min.js",
    "mathjax_url": "node_modules/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
}

_HEADING = re.compile(r"^(#{1,6})\s+\S")
_FENCE = re.compile(r"^\s*(```|~~~)")
_FIGURE = re.compile(r"\bplt\.|\bcu\.(show_images|plot_\w+)\(|^\s*fig\w*\s*(,[^=]*)?=|\.imshow\(",
                     re.M)
_IMPORT = re.compile(r"^(import|from)\s+\S")

# Long cells stay readable: the deck is 1280 x 800 (reveal.js scales it to the screen), code
# and text outputs scroll inside their own box, figures fit, and a (sub)slide taller than the
# screen scrolls instead of being cut off.
DECK_CSS = f"""
<style type="text/css">
/* course_utils.slides */
:root {{
  --jp-content-font-size1: 18px;
  --jp-ui-font-size1: 18px;
  --jp-code-font-size: 15px;
}}
html:not(.print-pdf) .reveal .slides > section > section {{
  max-height: {DECK_HEIGHT}px; overflow-y: auto; overflow-x: hidden;
}}
.reveal .jp-InputArea-editor {{ max-height: 400px; overflow: auto; }}
.reveal div.highlight > pre {{ box-sizing: border-box; }}
.reveal .jp-OutputArea-output pre {{ max-height: 260px; overflow: auto; }}
.reveal .jp-RenderedImage img {{ max-height: 480px; width: auto; max-width: 100%; }}
.reveal .jp-RenderedHTMLCommon table {{ font-size: 16px; }}
.reveal h1, .reveal h2, .reveal h3 {{ text-transform: none; }}
</style>
"""


# ---------------------------------------------------------------- the rules ------------------

def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines_outside_fences(text: str) -> Iterator[tuple[int, str, bool]]:
    """``(index, line, inside_a_fenced_code_block)`` for every line of a markdown text."""
    fenced = False
    for i, line in enumerate(text.split("\n")):
        if _FENCE.match(line):
            fenced = not fenced
            yield i, line, True
        else:
            yield i, line, fenced


def heading_level(cell: dict) -> int:
    """The level of the heading a markdown cell opens with (1 for ``# ``), or 0.

    Usage: ``heading_level({"cell_type": "markdown", "source": "## 2. Data"})`` → 2
    """
    if cell.get("cell_type") != "markdown":
        return 0
    first = next((line for line in _source(cell).split("\n") if line.strip()), "")
    match = _HEADING.match(first)
    return len(match.group(1)) if match else 0


def section_headings(cell: dict) -> list[str]:
    """The ``#`` and ``##`` heading lines of a markdown cell (not those inside code fences).

    Usage: ``sum(len(section_headings(c)) for c in nb["cells"])`` = slides in the deck
    """
    if cell.get("cell_type") != "markdown":
        return []
    return [line for _, line, fenced in _lines_outside_fences(_source(cell))
            if not fenced and (m := _HEADING.match(line)) and len(m.group(1)) <= 2]


def draws_figure(cell: dict) -> bool:
    """True for a code cell that (by its source) draws a matplotlib figure.

    Usage: ``draws_figure({"cell_type": "code", "source": "fig = cu.plot_history(h)"})`` → True
    """
    return cell.get("cell_type") == "code" and bool(_FIGURE.search(_source(cell)))


def _is_boilerplate(cell: dict, before_first_section: bool) -> bool:
    if SKIP_TAGS & set(cell.get("metadata", {}).get("tags", [])):
        return True
    if cell.get("cell_type") != "code":
        return False
    src = _source(cell).strip()
    if src.startswith("# Setup"):  # the standard setup cell (CONTRIBUTING.md)
        return True
    first = next((line for line in src.split("\n")
                  if line.strip() and not line.lstrip().startswith("#")), "")
    return before_first_section and bool(_IMPORT.match(first))


def _height(cell: dict) -> int:
    """Estimated height of a cell on a slide, in lines of text."""
    lines = _source(cell).rstrip("\n").split("\n")
    if cell.get("cell_type") == "code":
        return len(lines) + (FIGURE_LINES if draws_figure(cell) else 2)
    return sum(max(1, math.ceil(len(line) / TEXT_WIDTH)) for line in lines)


def existing_slide_type(cell: dict) -> str | None:
    """The cell's ``metadata.slideshow.slide_type``, or None.

    Usage: ``existing_slide_type(nb["cells"][0])``
    """
    value = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
    return value if value in SLIDE_TYPES else None


def has_slide_metadata(nb: dict) -> bool:
    """True when at least one cell carries a slide type.

    Usage: ``has_slide_metadata(json.load(open("notebooks/01_cnn_basics.ipynb")))``
    """
    return any(existing_slide_type(cell) for cell in nb.get("cells", []))


def slide_types(nb: dict, overwrite: bool = False) -> list[str]:
    """The slide type of every cell under the rules of this module's docstring.

    Cells that already have one keep it unless ``overwrite``. Nothing is changed.

    Usage: ``slide_types(nb)`` → ``["slide", "skip", "skip", "slide", "-", "fragment", ...]``
    """
    types: list[str] = []
    used = 0                    # estimated lines on the current (sub)slide
    previous: str | None = None  # cell type of the previous shown cell
    before_first_section = True
    for cell in nb.get("cells", []):
        level, kind, height = heading_level(cell), cell.get("cell_type"), _height(cell)
        if _is_boilerplate(cell, before_first_section):
            rule = "skip"
        elif level in (1, 2):
            rule = "slide"
        elif level == 3:
            rule = "subslide"
        elif kind == "markdown" and previous == "code":
            rule = "subslide"
        elif used >= BUDGET_LINES // 3 and used + height > BUDGET_LINES:
            rule = "subslide"
        elif used and draws_figure(cell):
            rule = "fragment"
        else:
            rule = "-"
        chosen = existing_slide_type(cell) if not overwrite else None
        chosen = chosen or rule
        types.append(chosen)
        if level == 2:
            before_first_section = False
        if chosen in ("slide", "subslide"):
            used = height
        elif chosen in ("-", "fragment"):
            used += height
        if chosen not in ("skip", "notes"):
            previous = kind
    return types


def tag_notebook(nb: dict, overwrite: bool = False) -> dict:
    """Write ``metadata.slideshow.slide_type`` into every cell of ``nb`` (in place); returns nb.

    Only that field changes; cells that have a slide type keep it unless ``overwrite``.
    Idempotent: ``tag_notebook(tag_notebook(nb)) == tag_notebook(nb)``.

    Usage: ``tag_notebook(json.load(open(path)))``
    """
    for cell, slide_type in zip(nb.get("cells", []), slide_types(nb, overwrite=overwrite)):
        if existing_slide_type(cell) != slide_type:
            cell.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = slide_type
    return nb


def split_sections(nb: dict) -> dict:
    """A copy of ``nb`` whose markdown cells are split before every ``#``-``###`` heading.

    The first part keeps the cell's metadata (and its slide type); later parts get a fresh id
    and no slide type, so that :func:`slide_types` gives them one. Used for building only.

    Usage: ``deck_nb = tag_notebook(split_sections(nb))``
    """
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            cells.append(cell)
            continue
        lines = _source(cell).split("\n")
        cuts = [i for i, line, fenced in _lines_outside_fences(_source(cell))
                if i > 0 and not fenced and (m := _HEADING.match(line)) and len(m.group(1)) <= 3
                and "".join(lines[:i]).strip()]
        bounds = [0, *cuts, len(lines)]
        for k, (start, stop) in enumerate(zip(bounds, bounds[1:])):
            part = copy.deepcopy(cell)
            part["source"] = "\n".join(lines[start:stop]).strip("\n")
            if k:
                part["metadata"].pop("slideshow", None)
                if "id" in part:
                    part["id"] = f"{cell['id']}-{k}"[:64]
            cells.append(part)
    nb["cells"] = cells
    return nb


# ---------------------------------------------------------------- building -------------------

@contextlib.contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    """Set (or with None unset) environment variables for the kernel this process starts."""
    def apply(settings: dict[str, str | None]) -> None:
        for key, value in settings.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    saved = {key: os.environ.get(key) for key in values}
    try:
        apply(values)
        yield
    finally:
        apply(saved)


def execute_notebook(nb, cwd: Path, profile: str | None = None, timeout: int = 3600):
    """Run ``nb`` (an nbformat NotebookNode) top to bottom in ``cwd``; returns it with outputs.

    The profile is the one the environment selects (``COURSE_PROFILE``, ``SMOKE_TEST``) unless
    ``profile`` is given. Figures are rendered inline, so they become PNG outputs.

    Usage: ``execute_notebook(nbformat.read(path, 4), path.parent, profile="smoke")``
    """
    from nbconvert.preprocessors import ExecutePreprocessor

    runner = ExecutePreprocessor(timeout=timeout, kernel_name="python3")
    # The kernel imports the course_utils this module belongs to, installed or not.
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    with _environment(MPLBACKEND="module://matplotlib_inline.backend_inline",
                      COURSE_PROFILE=profile or os.environ.get("COURSE_PROFILE"),
                      PYTHONPATH=pythonpath):
        runner.preprocess(nb, {"metadata": {"path": str(cwd)}})
    return nb


def _drop_widget_views(nb) -> None:
    """Keep the text of widget outputs (tqdm bars): widgets would need a CDN and kernel state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data and len(data) > 1:
                del data["application/vnd.jupyter.widget-view+json"]


def _reveal_urls(reveal_prefix: str | None, offline: bool) -> dict[str, str]:
    if offline:
        return dict(OFFLINE_URLS)
    return {"reveal_url_prefix": reveal_prefix} if reveal_prefix else {}


def export_slides(nb, name: str, profile: str = "", reveal_prefix: str | None = None,
                  offline: bool = False) -> str:
    """The reveal.js HTML of ``nb`` (split, tagged where untagged, outputs as they are).

    Usage: ``html = export_slides(nbformat.read(path, 4), path.stem)``
    """
    import nbformat
    from nbconvert import SlidesExporter

    deck = nbformat.from_dict(tag_notebook(split_sections(nb)))
    _drop_widget_views(deck)
    # "white": the theme whose fonts ship with reveal.js ("simple" fetches Google Fonts).
    exporter = SlidesExporter(reveal_theme="white", reveal_scroll=True, exclude_input_prompt=True,
                              exclude_output_prompt=True, reveal_width=str(DECK_WIDTH),
                              reveal_height=str(DECK_HEIGHT),
                              **_reveal_urls(reveal_prefix, offline))
    html, _ = exporter.from_notebook_node(deck, resources={"metadata": {"name": name}})
    head = ('<meta name="generator" content="course_utils.slides" />\n'
            f'<meta name="course-profile" content="{profile}" />\n{DECK_CSS}')
    return html.replace("</head>", head + "</head>", 1)


def offline_assets_missing(out_dir: Path) -> list[str]:
    """The npm packages that ``--offline`` needs and ``out_dir/node_modules`` lacks.

    Usage: ``offline_assets_missing(Path("slides"))`` → ``["reveal.js", "mathjax"]``
    """
    return [name for name in OFFLINE_PACKAGES if not (out_dir / "node_modules" / name).is_dir()]


def install_offline_assets(out_dir: Path) -> None:
    """``npm install --prefix out_dir`` reveal.js, require.js, jQuery and MathJax 2 (once).

    Usage: ``install_offline_assets(Path("slides"))``
    """
    missing = offline_assets_missing(out_dir)
    if not missing:
        return
    command = ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(out_dir),
               *(OFFLINE_PACKAGES[name] for name in missing)]
    if shutil.which("npm") is None:
        raise SystemExit("--offline needs reveal.js, require.js, jQuery and MathJax next to the "
                         f"decks; install Node.js and run: {' '.join(command)}")
    print("fetching the offline assets once:", " ".join(command))
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(command, check=True)


def build_deck(path: str | Path, out_dir: str | Path = "slides", execute: bool = False,
               profile: str | None = None, reveal_prefix: str | None = None,
               offline: bool = False, timeout: int = 3600) -> Path:
    """Write ``out_dir/<stem>.slides.html`` for one notebook; returns its path.

    With ``execute`` the notebook runs first (in its own folder, in the profile that
    ``profile`` or the environment selects); otherwise the saved outputs are used. The
    notebook file itself is never written.

    Usage: ``build_deck("notebooks/01_cnn_basics.ipynb", "slides", execute=True)``
    """
    import nbformat

    from .profiles import get_profile

    path, out_dir = Path(path), Path(out_dir)
    nb = nbformat.read(path, as_version=4)
    if execute:
        execute_notebook(nb, path.parent.resolve(), profile=profile, timeout=timeout)
    with _environment(COURSE_PROFILE=profile or os.environ.get("COURSE_PROFILE")):
        used = get_profile() if execute else "saved outputs"
    html = export_slides(nb, path.stem, profile=used, reveal_prefix=reveal_prefix,
                         offline=offline)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{path.stem}.slides.html"
    target.write_text(html, encoding="utf-8")
    return target


def tag_file(path: str | Path, overwrite: bool = False) -> bool:
    """Write the slide metadata into a notebook file; True if it changed.

    The file is rewritten the way ``course_utils.clean`` writes it, so the diff shows only
    the ``slideshow`` lines.

    Usage: ``tag_file("notebooks/01_cnn_basics.ipynb")``
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new = json.dumps(tag_notebook(json.loads(text), overwrite=overwrite), indent=1,
                     ensure_ascii=False) + "\n"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    """Build the decks (or with ``--tag`` tag the notebooks); returns the exit status.

    Usage: ``python -m course_utils.slides --execute``
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--execute", action="store_true",
                        help="run each notebook first, in the profile COURSE_PROFILE selects")
    parser.add_argument("--profile", choices=("smoke", "cpu", "gpu", "full"),
                        help="set COURSE_PROFILE for the run (with --execute)")
    parser.add_argument("--out", type=Path, default=Path("slides"), help="default: slides/")
    parser.add_argument("--offline", action="store_true",
                        help="load reveal.js, require.js, jQuery and MathJax from "
                             "OUT/node_modules (fetched once with npm) instead of a CDN")
    parser.add_argument("--reveal-prefix", help="URL or path (relative to OUT) of reveal.js")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--tag", action="store_true",
                        help="write the slide metadata into the notebook files; build nothing")
    parser.add_argument("--retag", action="store_true",
                        help="with --tag: recompute every cell's slide type, even set ones")
    parser.add_argument("--check", action="store_true",
                        help="with --tag: only report notebooks whose metadata would change")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        parser.error("no notebooks given and none found in notebooks/")

    if args.tag:
        stale = 0
        for path in paths:
            if args.check:
                nb = json.loads(path.read_text(encoding="utf-8"))
                if tag_notebook(copy.deepcopy(nb), overwrite=args.retag) != nb:
                    stale += 1
                    print(f"{path}: slide metadata missing or stale; run "
                          f"python -m course_utils.slides --tag {path}")
            elif tag_file(path, overwrite=args.retag):
                print(f"tagged {path}")
            else:
                print(f"{path}: already tagged")
        return 1 if stale else 0

    if args.offline:
        install_offline_assets(args.out)
    for path in paths:
        start = time.perf_counter()
        if not args.execute:
            import nbformat
            if not any(c.get("outputs") for c in nbformat.read(path, as_version=4).cells):
                print(f"note: {path} has no outputs (notebooks are committed clean); add "
                      "--execute to run it first")
        target = build_deck(path, args.out, execute=args.execute, profile=args.profile,
                            reveal_prefix=args.reveal_prefix, offline=args.offline,
                            timeout=args.timeout)
        print(f"wrote {target} ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
