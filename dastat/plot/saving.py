"""Writing a figure to disk in a format chosen by the file's suffix."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

from dastat.errors import InvalidArgumentError

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")


class NotebookFigure(Figure):
    """A Figure that shows itself in Jupyter, inline backend or not.

    dastat builds figures without pyplot, and IPython's matplotlib display hook is installed only
    when pyplot or ``%matplotlib`` sets it up; without it a figure shows as ``<Figure size ...>``.
    ``_repr_png_`` is IPython's own protocol, so the figure displays with any backend.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


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
