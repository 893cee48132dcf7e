"""Writing a figure to disk in a format chosen by the file's suffix."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from dastat.errors import InvalidArgumentError

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Save ``fig`` as PNG, SVG or PDF (by the suffix of ``path``), creating the folder; returns the path.

    Raises
    ------
    InvalidArgumentError
        The suffix is not .png, .svg or .pdf.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"out must end in {', '.join('.' + f for f in FORMATS)}; got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight")
    return path
