"""Figures: the paper's Figure-4 scatter grid, the T. stddev ranking chart and the predictor grid.

Functions return a ``matplotlib.figure.Figure`` built without pyplot, so nothing is shown or kept
open as a side effect and no backend is forced: a notebook displays the returned figure, a script
or the CLI saves it with :func:`save_figure` (headless rendering needs no display).
"""

from __future__ import annotations

from dastat.plot.fig4 import fig4
from dastat.plot.labels import SCHEME_LABELS, scheme_label
from dastat.plot.predictors import predictor_grid
from dastat.plot.ranking import ranking
from dastat.plot.saving import save_figure

__all__ = ["SCHEME_LABELS", "fig4", "predictor_grid", "ranking", "save_figure", "scheme_label"]
