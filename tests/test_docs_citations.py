"""The package, tests and README cite the project's own docs/ pages, and every cited section exists.

References to files a user does not have ("SPEC §N", "issue N") fail here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CITATION = re.compile(r'docs/(?P<page>[\w-]+\.md), \\?"(?P<section>[^"\\]+)\\?"')
PLACEHOLDER = "Section name"  # how the pages themselves show the citation form
OUTSIDE = re.compile(r"\bSPEC\b|\b[Ii]ssues?\s?#?\d+\b")
# The sections other pages and the code cite by name (docs/README.md lists them).
METHOD_SECTIONS = (
    "T. stddev and its estimator", "Protocols", "The floor", "Teacher-side predictors", "Testbed", "Schemes",
    "KD recipe", "Distillation methods", "Data on disk", "Models and checkpoints", "Log formats",
    "Deviations from the reference code",
)


def _sources() -> list[Path]:
    found = [*ROOT.glob("dastat/**/*.py"), *ROOT.glob("tests/**/*.py"), ROOT / "README.md"]
    return sorted(p for p in found if p != Path(__file__).resolve())


def _headings(page: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in page.read_text(encoding="utf-8").splitlines()
            if re.match(r"#{1,6} ", line)}


def test_no_reference_to_files_outside_the_repository():
    found = []
    for path in _sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, ("cite docs/ sections instead, as docs/method.md, \"Section name\":\n"
                       + "\n".join(found))


def test_every_cited_section_exists():
    pages = {p.name: _headings(p) for p in DOCS.glob("*.md")}
    missing = []
    for path in [*_sources(), *DOCS.glob("*.md")]:
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            page, section = match.group("page"), match.group("section")
            if section != PLACEHOLDER and section not in pages.get(page, ()):
                missing.append(f"{path.relative_to(ROOT)}: docs/{page}, {section!r}")
    assert not missing, "cited sections that docs/ does not have:\n" + "\n".join(missing)


def test_method_page_has_the_sections_the_code_cites():
    top = [line[3:].strip() for line in (DOCS / "method.md").read_text(encoding="utf-8").splitlines()
           if line.startswith("## ")]
    assert top == list(METHOD_SECTIONS)
