"""The package, tests and README cite the project's own docs/ pages, and every cited section exists.

References to files a user does not have ("SPEC §N", "issue N") fail here; ``python tools/cite_docs.py``
rewrites them.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

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


def _cite_docs():
    spec = importlib.util.spec_from_file_location("cite_docs", ROOT / "tools" / "cite_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_reference_to_files_outside_the_repository():
    found = []
    for path in _sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, ("cite docs/ sections instead (python tools/cite_docs.py rewrites these):\n"
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


@pytest.mark.parametrize(("before", "after"), [
    ("x = 1  # SPEC §3: tau = 4\n", 'x = 1  # docs/method.md, "KD recipe": tau = 4\n'),
    ('"""The stream of sets (SPEC §1)."""\n', '"""The stream of sets (docs/method.md, "Protocols")."""\n'),
    ('"""Below the floor (SPEC §1)."""\n', '"""Below the floor (docs/method.md, "The floor")."""\n'),
    ('text = "sets (SPEC §1); more"\n', 'text = "sets (docs/method.md, \\"Protocols\\"); more"\n'),
    ("# issue 4, benchmarks\n", '# docs/benchmarks.md, "probe", benchmarks\n'),
    ('"""Layouts (SPEC §4, §5)."""\n', '"""Layouts (docs/method.md, "Models and checkpoints")."""\n'),
])
def test_cite_docs_rewrites_references_once(before, after):
    cite_docs = _cite_docs()
    text, changes, left = cite_docs.rewrite(before, "dastat/probe/x.py", is_python=True)
    assert (text, left, len(changes)) == (after, [], 1)
    compile(text, "x.py", "exec")
    assert cite_docs.rewrite(text, "dastat/probe/x.py", is_python=True) == (text, [], [])


def test_cite_docs_wraps_a_comment_it_makes_too_long():
    cite_docs = _cite_docs()
    code = "value = 1  # " + "word " * 20 + "(SPEC §5)\n"
    text, _, left = cite_docs.rewrite(code, "dastat/models/x.py", is_python=True)
    assert not left and all(len(line) <= cite_docs.LINE_LENGTH for line in text.splitlines())
    assert text.splitlines()[-1] == "value = 1"
    assert 'docs/method.md, "Models and checkpoints"' in text


def test_cite_docs_joins_the_words_it_pushes_off_a_line_to_the_next():
    cite_docs = _cite_docs()
    code = '"""Title.\n\n' + "word " * 21 + "(SPEC §2) tail\ngoes on here.\n\nParameters\n"'"""\n'
    text, _, _ = cite_docs.rewrite(code, "dastat/augment/x.py", is_python=True)
    lines = text.splitlines()
    assert lines[3] == '(docs/method.md, "Schemes") tail goes on here.' and lines[5] == "Parameters"
    assert all(len(line) <= cite_docs.LINE_LENGTH for line in lines)


def test_cite_docs_reports_what_it_cannot_map(tmp_path):
    cite_docs = _cite_docs()
    (tmp_path / "dastat").mkdir()
    (tmp_path / "dastat" / "a.py").write_text("# see SPEC §9 and issue 99\n", encoding="utf-8")
    assert cite_docs.main([str(tmp_path)]) == 1
    assert (tmp_path / "dastat" / "a.py").read_text(encoding="utf-8") == "# see SPEC §9 and issue 99\n"
