"""Compare the numbers two runs of the executed chapter notebooks show (e.g. before and after a refactor).

Usage: ``python bench/compare_chapters.py BEFORE_DIR AFTER_DIR [--rename OLD=NEW ...]``, where each folder holds
executed notebooks (``reports/executed/``). For every notebook of BEFORE (under its new name after ``--rename``):

- tables (``text/html`` outputs), in order: the numbers of each table must be the same sequence;
- sentences (``text/markdown`` outputs): every number BEFORE states must still be stated AFTER (a multiset
  check, so a sentence added after, for example to state a setting that left a caption, is allowed and listed);
- figures (``image/png``): how many are byte-identical (reported, not required: drawing code that moved may still
  draw the same figure with different bytes).

Exit status 0 when every table and sentence number agrees, 1 otherwise. Numbers are read as printed (``1,234``,
``-0.50``, ``<0.001``), after removing HTML tags and the Styler's element ids.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

NUMBER = re.compile(r"(?<![\w.])[-−]?\d[\d,]*(?:\.\d+)?")
TAG = re.compile(r"<[^>]+>|\{[^}]*\}")  # tags and CSS rules (the Styler's <style> block holds ids, not data)
STYLE = re.compile(r"<style.*?</style>", re.S)


def numbers(text: str) -> list[str]:
    plain = TAG.sub(" ", STYLE.sub(" ", text))
    return [n.replace("−", "-") for n in NUMBER.findall(plain)]


def outputs(path: Path) -> dict[str, list]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    found: dict[str, list] = {"tables": [], "sentences": [], "figures": []}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data:
                found["tables"].append(numbers("".join(data["text/html"])))
            elif "text/markdown" in data:
                found["sentences"].extend(numbers("".join(data["text/markdown"])))
            if "image/png" in data:
                found["figures"].append(hashlib.sha256(data["image/png"].encode()).hexdigest())
    return found


def compare(before: Path, after: Path, renames: dict[str, str]) -> bool:
    ok = True
    for old in sorted(before.glob("*.ipynb")):
        new = after / f"{renames.get(old.stem, old.stem)}.ipynb"
        if not new.exists():
            print(f"{old.name}: no {new.name} in {after}")
            ok = False
            continue
        b, a = outputs(old), outputs(new)
        tables_ok = b["tables"] == a["tables"]
        lost = Counter(b["sentences"]) - Counter(a["sentences"])
        added = Counter(a["sentences"]) - Counter(b["sentences"])
        same_figs = sum(x == y for x, y in zip(b["figures"], a["figures"]))
        print(f"{old.stem} -> {new.stem}: {len(b['tables'])} tables "
              f"({sum(map(len, b['tables']))} numbers) {'identical' if tables_ok else 'DIFFER'}; "
              f"{len(b['sentences'])} sentence numbers, {sum(lost.values())} lost, {sum(added.values())} added; "
              f"figures {same_figs}/{len(b['figures'])} byte-identical ({len(a['figures'])} after)")
        if not tables_ok:
            ok = False
            if len(b["tables"]) != len(a["tables"]):
                print(f"  tables: {len(b['tables'])} before, {len(a['tables'])} after")
            for i, (x, y) in enumerate(zip(b["tables"], a["tables"])):
                if x != y:
                    j = next((j for j, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
                    print(f"  table {i + 1}: first difference at number {j}: {x[j:j + 6]} before, {y[j:j + 6]} after")
        if lost:
            ok = False
            print(f"  numbers no longer stated: {dict(lost)}")
        if added:
            print(f"  numbers newly stated: {dict(added)}")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="a notebook renamed between runs")
    a = p.parse_args(argv)
    renames = dict(r.split("=", 1) for r in a.rename)
    ok = compare(a.before, a.after, renames)
    print("every table and sentence number agrees" if ok else "numbers differ")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
