"""Ingesters: one module per log format, and the runner that stores each file in one transaction.

Formats: the paper's reference-code ``log.txt`` (:mod:`.reference_log`), mdistiller's
``worklog.txt`` (:mod:`.mdistiller`), RepDistiller's TensorBoard event files (:mod:`.repdistiller`),
dastat's JSON lines (:mod:`.jsonl`) and any CSV / JSON / Parquet table (:mod:`.table`).
"""

from dastat.store.ingest.runner import IngestSummary, detect_format, ingest, ingest_file

__all__ = ["IngestSummary", "detect_format", "ingest", "ingest_file"]
