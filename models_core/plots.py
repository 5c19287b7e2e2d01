"""The paper's Fig. 2 as an image: KL as a share of the objective and the VAE ELBO, per run.

Pure matplotlib (Agg backend, no display): takes plain series, returns PNG or SVG bytes, so the
admin, reports and scripts draw the same figure.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Literal

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure

ImageFormat = Literal["png", "svg"]


def training_curves(
    series: Mapping[str, Mapping[str, Sequence[float]]], *, fmt: ImageFormat = "png"
) -> bytes:
    """Fig. 2 of the paper for several runs.

    Args:
        series: label → {"step": [...], "kl_share": [... percent ...], "elbo": [...]}
        fmt: "png" or "svg"
    Returns the encoded image; an empty mapping gives axes with a "no data yet" note. The
    image's description (a PNG text chunk, SVG metadata) lists the series drawn, one a line,
    so a reader (or a test) can tell what it shows without looking.
    """
    figure = Figure(figsize=(10, 3.6), layout="constrained")
    left, right = figure.subplots(1, 2)
    for label, points in series.items():
        left.plot(points["step"], points["kl_share"], label=label, linewidth=1.2)
        right.plot(points["step"], points["elbo"], label=label, linewidth=1.2)
    left.set(title="−KL as % of the objective", xlabel="step", ylabel="%")
    right.set(title="VAE ELBO (Eq. 1), nats per sentence", xlabel="step", ylabel="ELBO")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        if series:
            axes.legend(fontsize="small")
        else:
            axes.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=axes.transAxes)
    buffer = io.BytesIO()
    metadata = {"Title": "Fig. 2: training curves", "Description": "\n".join(series)}
    figure.savefig(buffer, format=fmt, dpi=100, metadata=metadata)
    return buffer.getvalue()
