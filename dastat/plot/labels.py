"""How schemes are named and coloured in figures: the legend names of the paper's Figure 4."""

from __future__ import annotations

from matplotlib import colormaps

# Legend order and names as in Figure 4 of Wang et al. (NeurIPS 2022).
SCHEME_LABELS: dict[str, str] = {
    "identity": "Identity",
    "flip": "Flip",
    "flip_crop": "Crop+Flip",
    "cutout": "Cutout",
    "autoaugment": "AutoAugment",
    "mixup": "Mixup",
    "cutmix": "CutMix",
    "cutmixpick_s": "CutmixPick (S. ent.)",
    "cutmixpick_t": "CutmixPick (T. ent.)",
}


def scheme_label(scheme: str) -> str:
    """The paper's legend name of ``scheme``, or the name itself for schemes the paper did not use."""
    return SCHEME_LABELS.get(str(scheme), str(scheme))


def scheme_order(schemes) -> list[str]:
    """Known schemes in the paper's legend order, then any others in their order of appearance."""
    present = list(dict.fromkeys(map(str, schemes)))
    return [s for s in SCHEME_LABELS if s in present] + [s for s in present if s not in SCHEME_LABELS]


def scheme_colours(schemes) -> dict[str, tuple[float, float, float]]:
    """One colour per scheme, fixed for the paper's schemes so that every figure agrees."""
    order = scheme_order(schemes)
    known = list(SCHEME_LABELS)
    extra = [s for s in order if s not in SCHEME_LABELS]
    set2 = colormaps["Set2"].colors  # seaborn's color_palette("Set2", n): the colours in turn
    palette = list(colormaps["tab10"].colors) + [set2[i % len(set2)] for i in range(max(1, len(extra)))]
    colours = {s: palette[known.index(s)] for s in order if s in SCHEME_LABELS}
    colours.update({s: palette[len(palette) - len(extra) + i] for i, s in enumerate(extra)})
    return colours
