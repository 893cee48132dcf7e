"""Scalars from TensorBoard event files, read with TensorBoard's own event accumulator."""

from __future__ import annotations

from pathlib import Path

from dastat.store.ingest.parsed import fail


def read_scalars(path: Path) -> dict[str, dict[int, tuple[float, float]]]:
    """``{tag: {step: (value, wall_time)}}`` for every scalar in an event file or a folder of them.

    A step logged twice (a resumed run) keeps its last value.
    """
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as err:  # pragma: no cover - tensorboard is a dependency
        raise fail(path, None, "reading TensorBoard event files needs the tensorboard package "
                   "(pip install tensorboard)") from err
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
    try:
        accumulator.Reload()
    except Exception as err:  # the reader raises plain exceptions on corrupt records
        raise fail(path, None, f"not a readable TensorBoard event file ({err})") from err
    return {
        tag: {event.step: (float(event.value), float(event.wall_time)) for event in accumulator.Scalars(tag)}
        for tag in accumulator.Tags().get("scalars", [])
    }
