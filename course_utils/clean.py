"""Strip outputs and execution counts from notebooks before committing them.

Usage::

    python -m course_utils.clean notebooks/*.ipynb          # clean in place
    python -m course_utils.clean --check notebooks/*.ipynb  # exit 1 if any is dirty
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def dirty_cells(nb: dict) -> list[int]:
    """Indices of code cells that carry outputs or an execution count.

    Usage: ``dirty_cells(json.load(open("notebooks/01_cnn_basics.ipynb")))``
    """
    return [i for i, cell in enumerate(nb.get("cells", []))
            if cell.get("cell_type") == "code"
            and (cell.get("outputs") or cell.get("execution_count") is not None)]


def clean_notebook(nb: dict) -> dict:
    """Return ``nb`` with every code cell's outputs and execution count removed.

    Usage: ``clean_notebook(nb)``
    """
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    return nb


def main(argv: list[str] | None = None) -> int:
    """Strip (or with ``--check`` only report) outputs; returns the exit status.

    Usage: ``python -m course_utils.clean notebooks/*.ipynb``
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report dirty notebooks")
    args = parser.parse_args(argv)
    dirty = 0
    for path in args.paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = dirty_cells(nb)
        if not cells:
            continue
        dirty += 1
        if args.check:
            print(f"{path}: cells {cells} carry outputs; run python -m course_utils.clean {path}")
        else:
            path.write_text(json.dumps(clean_notebook(nb), indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
            print(f"cleaned {path}")
    return 1 if (dirty and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
