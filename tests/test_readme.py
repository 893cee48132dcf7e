"""The README's commands and examples name what exists: sub-commands, options, choices, Python names, files.

Nothing is run: the command lines are checked against the CLI's own parser, the Python examples against
the package's names and signatures, so the test stays fast and fails on the rename that left a page behind.
The same check covers the command blocks of the docs/ pages.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import shlex
from pathlib import Path

import pytest

from dastat.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
PLACEHOLDER = "..."  # `dastat train ... --resume`: the rest of an earlier command


def _split(page: Path) -> tuple[list[tuple[str, str]], str]:
    """The page's fenced blocks as (language, body), and its prose with the blocks left out."""
    blocks, prose, lang, body = [], [], None, []
    for line in page.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("```"):
            if lang is None:
                lang, body = line[3:].strip(), []
            else:
                blocks.append((lang, "".join(body)))
                lang = None
        elif lang is None:
            prose.append(line)
        else:
            body.append(line)
    assert lang is None, f"{page.relative_to(ROOT)}: a code block is opened and never closed"
    return blocks, "".join(prose)


def _blocks(page: Path, langs: tuple[str, ...]) -> list[str]:
    return [body for lang, body in _split(page)[0] if lang in langs]


def _command_lines(page: Path) -> list[str]:
    """Every ``dastat ...`` command in the page's shell blocks, one per ``&&``-joined part, comments cut."""
    found = []
    for body in _blocks(page, ("bash", "")):
        for line in body.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                if part.strip().startswith("dastat "):
                    found.append(" ".join(shlex.quote(w) for w in shlex.split(part, comments=True)))
    return found


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


SUBCOMMANDS = _subcommands()
COMMANDS = [(page.relative_to(ROOT).as_posix(), line) for page in PAGES for line in _command_lines(page)]


def _problems(line: str) -> list[str]:
    """What in one command line the parser does not know: the sub-command, an option, a choice."""
    words = shlex.split(line)[1:]
    if not words or words[0].startswith("-"):
        return []
    if words[0] not in SUBCOMMANDS:
        return [f"no sub-command {words[0]!r}"]
    parser = SUBCOMMANDS[words[0]]
    options = parser._option_string_actions
    positionals = [a for a in parser._actions if not a.option_strings]
    problems = []
    rest = iter(words[1:])
    for word in rest:
        if word == PLACEHOLDER:
            continue
        if word.startswith("--"):
            name, _, value = word.partition("=")
            action = options.get(name)
            if action is None:
                problems.append(f"{words[0]} has no option {name}")
                continue
            if action.nargs == 0:
                continue
            value = value or next(rest, None)
            if action.choices is not None and value is not None and value not in action.choices:
                problems.append(f"{words[0]} {name}: {value!r} is not one of {sorted(action.choices)}")
        elif positionals and positionals[0].choices is not None and word not in positionals[0].choices:
            problems.append(f"{words[0]}: {word!r} is not one of {sorted(c for c in positionals[0].choices if c)}")
    return problems


def test_the_readme_shows_its_two_quick_start_commands_and_ci_runs_the_second():
    text = README.read_text(encoding="utf-8")
    setup, tests = _blocks(README, ("bash",))[0].splitlines()
    assert setup.endswith("&& dastat rank") and tests.endswith("&& python -m pytest -n 2")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest -n 2" in ci
    assert len(text.splitlines()) <= 150, "the README is a front door: move detail to docs/"


def test_every_page_has_commands_to_check():
    assert {page for page, _ in COMMANDS} >= {"README.md", "docs/guide.md", "docs/benchmarks.md"}
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize(("page", "line"), COMMANDS, ids=[f"{p}:{i}" for i, (p, _) in enumerate(COMMANDS)])
def test_command_names_an_existing_subcommand_options_and_choices(page, line):
    assert not _problems(line), f"{page}: `{line}`: {'; '.join(_problems(line))}"


def test_the_check_refuses_an_unknown_subcommand_option_or_choice():
    assert _problems("dastat rnak") == ["no sub-command 'rnak'"]
    assert _problems("dastat rank --no-such-option 3") == ["rank has no option --no-such-option"]
    assert _problems("dastat probe --protocol slow")[0].startswith("probe --protocol: 'slow'")
    assert _problems("dastat bench augmnet")[0].startswith("bench: 'augmnet'")
    assert _problems("dastat rank --rtol 0.1 --json") == []


def _resolve(module: object, chain: list[str]) -> object:
    value = module
    for i, name in enumerate(chain):
        assert hasattr(value, name), f"{'.'.join([getattr(module, '__name__', '?'), *chain[:i + 1]])} does not exist"
        value = getattr(value, name)
    return value


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything that is not a plain name chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def _check_python(source: str) -> None:
    tree = ast.parse(source)
    names: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = importlib.import_module(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                names[alias.asname or alias.name] = _resolve(module, [alias.name])
    for node in ast.walk(tree):
        chain = _dotted(node.func) if isinstance(node, ast.Call) else None
        if not chain or chain[0] not in names:
            continue
        target = _resolve(names[chain[0]], chain[1:])
        if callable(target):
            try:
                signature = inspect.signature(target)
            except (TypeError, ValueError):  # a builtin without a signature
                continue
            positional = [None] * sum(not isinstance(a, ast.Starred) for a in node.args)
            keywords = {k.arg: None for k in node.keywords if k.arg}
            try:
                signature.bind_partial(*positional, **keywords)
            except TypeError as err:
                raise AssertionError(f"{'.'.join(chain)}{signature}: {err}") from None


PYTHON = [(page.relative_to(ROOT).as_posix(), i, body) for page in PAGES
          for i, body in enumerate(_blocks(page, ("python",)))]


@pytest.mark.parametrize(("page", "index", "source"), PYTHON, ids=[f"{p}:{i}" for p, i, _ in PYTHON])
def test_python_example_imports_and_calls_what_exists(page, index, source):
    _check_python(source)


def test_the_python_check_refuses_a_missing_name_and_a_wrong_keyword():
    with pytest.raises(AssertionError, match="no_such_loader"):
        _check_python("from dastat import data\ndata.no_such_loader('digits')\n")
    with pytest.raises(AssertionError, match="no_such_keyword"):
        _check_python("from dastat import models\nmodels.embedded_teacher(no_such_keyword=1)\n")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", [README, ROOT / "docs" / "README.md", ROOT / "docs" / "guide.md"],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_pages_link_to_files_and_sections_that_exist(page):
    text = _split(page)[1]
    broken = []
    for match in re.finditer(r"\]\((?P<path>[^)#\s]*)(?:#(?P<anchor>[^)\s]+))?\)", text):
        path, anchor = match.group("path"), match.group("anchor")
        if "://" in path:
            continue
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or (anchor and target.suffix == ".md" and anchor not in _anchors(target)):
            broken.append(match.group(0))
    assert not broken, f"{page.relative_to(ROOT)} links to what does not exist: {broken}"
    if page == README:
        assert "](notebooks/01_rank_schemes.ipynb)" in text
