"""Rewrite references to files outside the repository ("SPEC §N", "issue N") as docs/ section citations.

Usage: ``python tools/cite_docs.py [--check] [ROOT]`` (ROOT defaults to the repository this file is in).

Scans ``dastat/**/*.py``, ``tests/**/*.py``, ``README.md`` and the committed reports (``results/**/*.md``).
Every reference becomes a citation of the form ``docs/method.md, "Section name"`` (``docs/benchmarks.md``
for the benchmark targets), chosen from the section number and the words around it. Inside a Python
string delimited by ``"`` the quotes are escaped; a comment or docstring line that grows past 120
characters is wrapped, and other long lines are reported. Running it again changes nothing. It prints
every change, and exits 1 when a reference is left that it cannot map (a new section number or issue:
add it to the tables below), else 0. ``--check`` reports without writing.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path

METHOD = "docs/method.md"
BENCH = "docs/benchmarks.md"
LINE_LENGTH = 120

# Whole phrases whose grammar the plain substitution would break, rewritten first: (phrase, page, section,
# template), ``{c}`` standing for the citation. Whitespace in a phrase matches any run of spaces and newlines.
PHRASES: tuple[tuple[str, str, str, str], ...] = (
    ("(issue 4, Speed)", BENCH, "probe", "({c})"),
    ("Targets (issue 3, CPU, 32 px):", BENCH, "Targets", "Targets ({c}), on the CPU at 32 px:"),
    ("protocols of SPEC §1 and", METHOD, "Protocols", "protocols ({c}) and"),
    ("(SPEC §2, cutout)", METHOD, "Schemes", "({c}: cutout)"),
    ("(SPEC §1's documented deviation, < 0.5/255 per pixel)", METHOD, "Deviations from the reference code",
     "(a documented deviation, < 0.5/255 per pixel: {c})"),
    ("(SPEC §3's epoch factor)", METHOD, "KD recipe", "(the epoch factor of {c})"),
    ("SPEC §3's epoch factor k;", METHOD, "KD recipe", "The epoch factor k of {c};"),
    ("(SPEC §1's ``floor``)", METHOD, "The floor", "(``floor``, {c})"),
    ("the label-composition floor of SPEC §1,", METHOD, "The floor", "the label-composition floor, {c};"),
    ("(SPEC §4 layouts)", METHOD, "Data on disk", "(layouts: {c})"),
    ("Loop over sets as SPEC §1 describes:", METHOD, "T. stddev and its estimator",
     "Loop over sets as {c} describes:"),
)

# "SPEC §N" where the number alone decides the section.
SPEC_SECTIONS = {
    2: "Schemes",
    3: "KD recipe",
    4: "Data on disk",
    5: "Models and checkpoints",
    6: "Log formats",
}
# Several numbers at once ("§1-2", "§4, §5"): the section that covers what they share.
SPEC_COMBINED = {
    frozenset({1, 2}): "Schemes",
    frozenset({4, 5}): "Models and checkpoints",
}
# "issue N": (page, section).
ISSUES = {
    2: (METHOD, "Models and checkpoints"),  # the embedded teacher and its accuracy bar
    3: (BENCH, "Targets"),  # the augmentation benchmark's targets
    4: (BENCH, "probe"),  # the probe benchmark
    8: (METHOD, "KD recipe"),  # the study's plateau rule
    12: (METHOD, "Distillation methods"),
}

_SPEC = re.compile(r"SPEC\s?§\s?(?P<nums>\d+(?:\s?(?:[-–]|,\s?)§?\s?\d+)*)(?P<poss>'s)?")
_ISSUE = re.compile(r"\b[Ii]ssues?\s?#?(?P<num>\d+)\b")
_LEFT = re.compile(r"SPEC\b|\b[Ii]ssues?\s?#?\d+\b")
CITATION = re.compile(r'docs/(?P<page>[\w-]+\.md), \\?"(?P<section>[^"\\]+)\\?"')


def section_for_spec1(path: str, line: str) -> str:
    """SPEC §1 holds the estimator, both protocols and the floor: choose by the words around it."""
    text = line.lower()
    if "floor" in text:
        return "The floor"
    if "deviation" in text or "truncat" in text or "cumulative" in text:
        return "Deviations from the reference code"
    if path.startswith("dastat/augment/"):
        return "Schemes"
    if path.startswith("dastat/train/"):
        return "KD recipe"
    if (re.search(r"estimator|eq\. ?\d|interval|influence", text)
            or path.endswith(("probe/estimator.py", "probe/result.py"))):
        return "T. stddev and its estimator"
    return "Protocols"


def spec_section(nums: set[int], path: str, line: str) -> str | None:
    if len(nums) > 1:
        return SPEC_COMBINED.get(frozenset(nums))
    (num,) = nums
    return section_for_spec1(path, line) if num == 1 else SPEC_SECTIONS.get(num)


def _numbers(text: str) -> set[int]:
    found = [int(n) for n in re.findall(r"\d+", text)]
    if re.search(r"\d\s?[-–]\s?§?\s?\d", text) and len(found) == 2:
        return set(range(found[0], found[1] + 1))
    return set(found)


def cite(page: str, section: str) -> str:
    return f'{page}, "{section}"'


def _phrase_regex(phrase: str) -> re.Pattern:
    return re.compile(r"\s+".join(re.escape(word) for word in phrase.split()))


def _line_of(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start : end if end >= 0 else len(text)]


def _string_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, delimiter) of every string literal in Python source ``text``."""
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    spans = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING:
                start = offsets[tok.start[0] - 1] + tok.start[1]
                end = offsets[tok.end[0] - 1] + tok.end[1]
                body = tok.string.lstrip("rRbBuUfF")
                delim = body[:3] if body[:3] in ('"""', "'''") else body[0]
                spans.append((start, end, delim))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return spans


def _quote_for(spans: list[tuple[int, int, str]], start: int, end: int) -> Callable[[str], str]:
    """How to write a citation at [start, end): escape its quotes inside a ``"``-delimited string."""
    for s_start, s_end, delim in spans:
        if s_start <= start < s_end:
            if delim == '"':
                return lambda c: c.replace('"', '\\"')
            if delim == '"""' and end == s_end - 3:  # a citation ending right at the closing quotes
                return lambda c: c[:-1] + '\\"'
            return lambda c: c
    return lambda c: c


def rewrite(text: str, path: str, is_python: bool) -> tuple[str, list[str], list[str]]:
    """The rewritten text, the changes made (for printing) and the references left unmapped."""
    changes: list[str] = []
    for phrase, page, section, template in PHRASES:
        pattern = _phrase_regex(phrase)
        while match := pattern.search(text):
            quote = _quote_for(_string_spans(text) if is_python else [], match.start(), match.end())
            new = template.format(c=quote(cite(page, section)))
            changes.append(f"{path}: {match.group(0)!r} -> {new!r}")
            text = text[: match.start()] + new + text[match.end() :]

    def substitute(pattern: re.Pattern, section_of: Callable[[re.Match, str], tuple[str, str] | None]) -> None:
        nonlocal text
        pos = 0
        while match := pattern.search(text, pos):
            target = section_of(match, _line_of(text, match.start()))
            if target is None:
                pos = match.end()
                continue
            quote = _quote_for(_string_spans(text) if is_python else [], match.start(), match.end())
            new = quote(cite(*target))
            changes.append(f"{path}: {match.group(0)!r} -> {new!r}")
            text = text[: match.start()] + new + text[match.end() :]
            pos = match.start() + len(new)

    def spec_target(match: re.Match, line: str) -> tuple[str, str] | None:
        if match.group("poss"):  # "SPEC §N's ...": the sentence needs a hand-written rewrite
            return None
        section = spec_section(_numbers(match.group("nums")), path, line)
        return None if section is None else (METHOD, section)

    substitute(_SPEC, spec_target)
    substitute(_ISSUE, lambda match, line: ISSUES.get(int(match.group("num"))))
    if is_python:
        text = _wrap_long_lines(text)
    left = [f"{path}:{text.count(chr(10), 0, m.start()) + 1}: {_line_of(text, m.start()).strip()}"
            for m in _LEFT.finditer(text)]
    return text, changes, left


def _trailing_comments(text: str) -> dict[int, int]:
    """Line number (1-based) -> column of a comment that follows code on that line."""
    found = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and tok.line[: tok.start[1]].strip():
                found[tok.start[0]] = tok.start[1]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return found


def _wrap_long_lines(text: str) -> str:
    """Wrap comment and docstring lines that now exceed LINE_LENGTH, never inside a citation.

    The words pushed off a line join the next line when that line goes on with the same sentence and the
    two fit. A comment after code moves to its own line(s) above the code. A long line of any other kind
    is left as it is (``main`` reports it).
    """
    spans = [(s, e) for s, e, d in _string_spans(text) if len(d) == 3]
    trailing = _trailing_comments(text)
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    out, skip = [], False
    for index, line in enumerate(lines):
        if skip:
            skip = False
            continue
        start = starts[index]
        body = line.rstrip("\n")
        if len(body) <= LINE_LENGTH or not CITATION.search(body):
            out.append(line)
            continue
        stripped = body.lstrip()
        indent = body[: len(body) - len(stripped)]
        first = start + len(indent)  # offset of the line's first visible character
        inside = [(s, e) for s, e in spans if s <= first < e]
        ending = line[len(body):]
        if inside:  # a docstring line: cut only inside the string, continue at the same indentation
            s_start, s_end = inside[0]
            wrapped = _split(body, indent, ending, max(s_start - start + 3, len(indent)), s_end - start - 3)
            following = index + 1 < len(lines) and starts[index + 1] < s_end - 3
            joined = _join_next(wrapped, lines[index + 1] if following else None, indent)
        elif stripped.startswith("#"):
            wrapped = _split(body, indent + "# ", ending, len(indent) + 2, len(body))
            joined = _join_next(wrapped, lines[index + 1] if index + 1 < len(lines) else None, indent + "# ")
        elif index + 1 in trailing:
            col = trailing[index + 1]
            comment = indent + body[col:]
            if len(comment) > LINE_LENGTH:
                comment = _split(comment, indent + "# ", "", len(indent) + 2, len(comment))
            wrapped, joined = comment + "\n" + body[:col].rstrip() + ending, None
        else:
            wrapped, joined = line, None
        if joined is not None:
            out.append(joined)
            skip = True
        else:
            out.append(wrapped)
    return "".join(out)


def _join_next(wrapped: str, following: str | None, prefix: str) -> str | None:
    """``wrapped`` with its last line and ``following`` made one line, when that continues a sentence and fits."""
    if following is None or not following.startswith(prefix):
        return None
    rest = following[len(prefix):].rstrip("\n")
    if not rest or rest.startswith(" ") or not (rest[0].islower() or rest[0] in "`(<=>~+-*/0123456789"):
        return None
    if rest.startswith(("- ", "* ")) or '"""' in rest or "\'\'\'" in rest:
        return None
    head, _, last = wrapped.rstrip("\n").rpartition("\n")
    merged = last + " " + rest
    if len(merged) > LINE_LENGTH:
        return None
    return head + "\n" + merged + following[len(following.rstrip("\n")):]


def _split(body: str, prefix: str, ending: str, low: int, high: int) -> str:
    """Cut ``body`` at the last space in (low, min(high, LINE_LENGTH)] outside a citation; recurse on the rest."""
    protected = [(m.start(), m.end()) for m in CITATION.finditer(body)]
    for cut in range(min(high, LINE_LENGTH), low, -1):
        if body[cut] == " " and not any(s <= cut < e for s, e in protected):
            head, tail = body[:cut].rstrip(), body[cut:].lstrip()
            rest = prefix + tail
            if len(rest) > LINE_LENGTH:  # body index i is rest index len(prefix) + i - (len(body) - len(tail))
                rest = _split(rest, prefix, "", len(prefix), len(prefix) + high - (len(body) - len(tail)))
            return head + "\n" + rest + ending
    return body + ending


def files(root: Path) -> list[Path]:
    """The package, the tests, the README, and the committed reports the README links."""
    found = sorted([*root.glob("dastat/**/*.py"), *root.glob("tests/**/*.py"), *root.glob("results/**/*.md")])
    readme = root / "README.md"
    return [*found, readme] if readme.exists() else found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--check", action="store_true", help="report only; write nothing")
    args = parser.parse_args(argv)
    root = Path(args.root)
    unmapped = []
    for path in files(root):
        rel = path.relative_to(root).as_posix()
        if rel == "tests/test_docs_citations.py":  # it names the patterns it looks for
            continue
        text = path.read_text(encoding="utf-8")
        new, changes, left = rewrite(text, rel, path.suffix == ".py")
        for change in changes:
            print(change)
        unmapped += left
        if new != text and not args.check:
            path.write_text(new, encoding="utf-8")
        if path.suffix == ".py":
            for number, line in enumerate(new.splitlines(), start=1):
                if len(line) > LINE_LENGTH and CITATION.search(line):
                    print(f"too long, wrap by hand: {rel}:{number}", file=sys.stderr)
    for item in unmapped:
        print(f"unmapped: {item}", file=sys.stderr)
    return 1 if unmapped else 0


if __name__ == "__main__":
    sys.exit(main())
