"""Walk the given paths, pick a parser for each file, and store each file in one transaction."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dastat.errors import IngestError, StoreError, UnknownNameError
from dastat.store.ingest import jsonl, mdistiller, reference_log, repdistiller, table
from dastat.store.ingest.parsed import Parsed, fail
from dastat.store.names import normalise_arch, normalise_scheme
from dastat.store.store import PROBE_FIELDS, STUDENT_FIELDS, Store

# Order matters: names first (cheap and certain), then content sniffing.
PARSERS = (repdistiller, mdistiller, reference_log, jsonl, table)
_HEAD_BYTES = 65536
_REQUIRED = {"probe": ("teacher", "dataset", "scheme", "t_stddev"),
             "student": ("teacher", "student", "dataset", "scheme", "test_loss")}
# What --set FIELD and --map COLUMN=FIELD may name: the store's fields, a table's aliases of them, and the
# inputs the parsers turn into fields (the reference code's distill, a picking scheme's criterion).
RECORD_FIELDS = tuple(sorted({*PROBE_FIELDS, *STUDENT_FIELDS, *table.ALIASES, "run_id", "scheme_criterion",
                              "distill"}))


@dataclass
class IngestSummary:
    """What an ingest did: files read (with what they gave), files skipped (with why), and names
    that are not dastat's (kept verbatim)."""

    read: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    unknown_names: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ignored: int = 0

    @property
    def exit_code(self) -> int:
        """0 when every file was read, 1 when some were skipped."""
        return 1 if self.skipped else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for ``--json``."""
        return {**asdict(self), "exit_code": self.exit_code}


def detect_format(path: Path) -> str:
    """The parser name for ``path``; IngestError when no parser recognises it."""
    return _parser_for(path).NAME


def _parser_for(path: Path):
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError as err:
        raise fail(path, None, f"cannot read it: {err.strerror}") from None
    for parser in PARSERS:
        if parser.sniff(path, head):
            return parser
    raise fail(path, None, "unknown format: expected a reference-code log.txt, an mdistiller worklog.txt, "
               "a TensorBoard events.out.tfevents.* file, dastat JSON lines (.jsonl) or a "
               ".csv/.tsv/.json/.parquet table")


def _is_candidate(path: Path) -> bool:
    name = path.name
    return (name in ("log.txt", "worklog.txt") or name.startswith("events.out.tfevents")
            or path.suffix.lower() in (".jsonl", *table.SUFFIXES))


def _expand(paths: Iterable[str | os.PathLike], summary: IngestSummary) -> list[Path]:
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .caches: smilelogging's code copies
                root_path = Path(root)
                # mdistiller's train.events belongs to the worklog beside it.
                if any(p.name == "train.events" and (p.parent / "worklog.txt").exists()
                       for p in (root_path, *root_path.parents)):
                    continue
                for name in sorted(names):
                    candidate = root_path / name
                    if _is_candidate(candidate):
                        files.append(candidate)
                    else:
                        summary.ignored += 1
        elif path.exists():
            files.append(path)
        else:
            summary.skipped.append({"path": str(path), "error": f"{path}: no such file or directory"})
    return files


def _short(text: str, limit: int = 400) -> str:
    """One line of at most ``limit`` characters: a 50 MB cell is not echoed to the terminal."""
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 30]}... ({len(text)} characters)"


def _hash(paths: Iterable[Path], mapping: Mapping[str, str], constants: Mapping[str, Any]) -> str:
    """The files' bytes and, when given, the --map/--set that tag their records (docs/store.md, "sources"):
    the same file ingested with other tags replaces its records, so a wrong tag can be corrected."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    if mapping or constants:
        digest.update(json.dumps({"map": mapping, "set": constants}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def check_fields(mapping: Mapping[str, str], constants: Mapping[str, Any]) -> None:
    """Every field --map and --set name is one the store knows (a typo would land unseen in ``extra``)."""
    for option, fields in (("--map", mapping.values()), ("--set", constants)):
        for name in fields:
            if name not in RECORD_FIELDS:
                raise UnknownNameError(f"{option} field", name, RECORD_FIELDS)


def _finish(record: dict[str, Any], kind: str, constants: Mapping[str, Any], path: Path,
            unknown: dict[str, set[str]]) -> dict[str, Any]:
    record = dict(record)
    for key, value in constants.items():
        if kind == "probe" and key == "student":
            continue
        record[key] = value
    criterion = record.pop("scheme_criterion", None)
    for key in ("teacher", "student"):
        if record.get(key) is not None:
            record[key], known = normalise_arch(record[key])
            if not known:
                unknown.setdefault("architecture", set()).add(record[key])
    if record.get("scheme") is not None:
        record["scheme"], known = normalise_scheme(record["scheme"], criterion)
        if not known:
            unknown.setdefault("scheme", set()).add(record["scheme"])
    if kind == "student" and record.get("method") is None and record.get("distill") is not None:
        # The reference code's --distill (RepDistiller's names: kd, crd, attention, ...) is the method.
        record["method"] = str(record.pop("distill")).strip().lower()
    lacking = [k for k in _REQUIRED[kind] if record.get(k) is None]
    if lacking:
        raise fail(path, None, f"the file does not say the {kind} field(s) {lacking} of run "
                   f"{record.get('run_id')!r}; give them with --set FIELD=VALUE (e.g. --set scheme=identity)")
    return record


def ingest_file(path: Path, store: Store, *, mapping: Mapping[str, str] | None = None,
                constants: Mapping[str, Any] | None = None,
                unknown: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """Parse one file and store it in one transaction; returns what it gave.

    Raises
    ------
    IngestError
        The file cannot be parsed; nothing of it is stored.
    """
    constants = dict(constants or {})
    unknown = {} if unknown is None else unknown
    parser = _parser_for(path)
    if parser is table:
        parsed: Parsed = table.parse(path, mapping, constants)
    elif mapping:
        raise fail(path, None, f"--map applies to tables only; this file is a {parser.NAME}")
    else:
        parsed = parser.parse(path)
    if not parsed.probes and not parsed.students:
        raise fail(path, None, "no rows: the file holds no probe result or student run (a header only, or a run "
                   "that logged no epoch yet); nothing was stored")
    probes = [_finish(r, "probe", constants, path, unknown) for r in parsed.probes]
    students = [(_finish(r, "student", constants, path, unknown), c) for r, c in parsed.students]
    content_hash = _hash([path, *parsed.extra_files], dict(mapping or {}), constants)
    status = store.replace_source(path, content_hash, parsed.parser, probes=probes, students=students)
    return {"path": str(path), "parser": parsed.parser, "status": status, "n_probes": len(probes),
            "n_students": len(students), "n_epochs": sum(len(c or ()) for _, c in students),
            "notes": parsed.notes}


def ingest(paths: Iterable[str | os.PathLike], store: Store, *, mapping: Mapping[str, str] | None = None,
           constants: Mapping[str, Any] | None = None) -> IngestSummary:
    """Ingest files and folders (recursively) into ``store``.

    Each file is one transaction: stored whole, or (on any error) not at all. A file that cannot
    be read is listed in ``summary.skipped`` with the reason, and the others go on.

    Parameters
    ----------
    paths : iterable of path-like
        Files and folders. In folders, only files that could be results are tried (``log.txt``,
        ``worklog.txt``, ``events.out.tfevents.*``, ``.jsonl``, ``.csv``/``.tsv``/``.json``/``.parquet``).
    store : Store
    mapping : dict, optional
        Table column -> record field (``--map``).
    constants : dict, optional
        Record field -> value set on every record (``--set``). The tags are part of a file's content
        hash: the same file ingested again with other ``--set``/``--map`` replaces its records.

    Returns
    -------
    IngestSummary

    Raises
    ------
    UnknownNameError
        ``mapping`` or ``constants`` names a field the store does not know (before anything is read).
    """
    check_fields(dict(mapping or {}), dict(constants or {}))
    summary = IngestSummary()
    unknown: dict[str, set[str]] = {}
    for path in _expand(paths, summary):
        try:
            result = ingest_file(path, store, mapping=mapping, constants=constants, unknown=unknown)
        except IngestError as err:
            summary.skipped.append({"path": str(path), "error": _short(str(err))})
            continue
        except StoreError:  # the store failing is the run's failure, not this file's
            raise
        except Exception as err:  # anything else raised while reading one file is that file's failure
            summary.skipped.append({"path": str(path), "error": _short(f"{path}: {type(err).__name__}: {err}")})
            continue
        summary.notes.extend(result.pop("notes"))
        summary.read.append(result)
    summary.unknown_names = {k: sorted(v) for k, v in unknown.items()}
    return summary
