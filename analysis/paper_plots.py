"""Axes-level plot helpers for reproduced paper figures (matplotlib, headless).

Each helper draws on a given ``matplotlib`` axes, so that a script composes a
multi-panel figure the way the paper lays it out; :func:`figure` opens one
headless and :func:`save` writes and closes it.

Example:
    >>> import numpy as np
    >>> fig, (ax, bx) = figure(1, 2)
    >>> mean_band(ax, {"naive": np.zeros((4, 11))}, refs={"paper": -2.0})
    >>> grouped_bars(bx, {"p1": np.full(5, 0.5)}, ["s0", "CC", "CD", "DC", "DD"])
    >>> save(fig, "/tmp/example.png")
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(rows: int, cols: int, *, panel_size=(4.2, 3.6)):
    """A headless figure with a ``rows x cols`` grid of axes (always a flat array)."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows), squeeze=False
    )
    return fig, axes.ravel()


def save(fig, path, *, dpi: int = 110) -> None:
    """Lay out, write ``path`` and close ``fig``."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)


def mean_band(
    ax,
    curves: Mapping[str, np.ndarray],
    *,
    x: np.ndarray | None = None,
    refs: Mapping[str, float] | None = None,
    band: str = "std",
    no_band: Collection[str] = (),
    linestyles: Mapping[str, str] | None = None,
    xlabel: str = "step",
    ylabel: str = "",
    title: str = "",
    legend_size: int = 7,
) -> None:
    """Mean over runs with a shaded band, one line per label.

    Args:
        ax: matplotlib axes.
        curves: ``label -> [S, R]`` values of ``S`` runs at ``R`` records.
        x: ``[R]`` abscissae (default ``0 .. R - 1``).
        refs: ``label -> y``: dotted horizontal reference lines (the paper's numbers).
        band: ``"std"`` (mean +/- one standard deviation) or ``"quartiles"``
            (median with the 25-75 % range).
        no_band: labels drawn without the band (a wide band would hide the others).
        linestyles: optional ``label -> matplotlib linestyle``.
    """
    if band not in ("std", "quartiles"):
        raise ValueError(f"band={band!r} is not allowed: expected 'std' or 'quartiles'")
    for label, c in curves.items():
        c = np.asarray(c, dtype=float)
        if c.ndim != 2:
            raise ValueError(f"curves[{label!r}] has shape {c.shape}: expected [runs, records]")
        xs = np.arange(c.shape[1]) if x is None else np.asarray(x)
        if band == "std":
            mid, lo, hi = c.mean(0), c.mean(0) - c.std(0), c.mean(0) + c.std(0)
        else:
            lo, mid, hi = np.percentile(c, [25, 50, 75], axis=0)
        style = (linestyles or {}).get(label, "-")
        (line,) = ax.plot(xs, mid, linestyle=style, label=label)
        if label not in no_band:
            ax.fill_between(xs, lo, hi, alpha=0.15, color=line.get_color(), linewidth=0)
    for label, y in (refs or {}).items():
        ax.axhline(y, color="k", linestyle=":", linewidth=1)
        ax.annotate(
            label, (1.0, y), xycoords=("axes fraction", "data"), ha="right", va="bottom", size=7
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if curves:
        ax.legend(fontsize=legend_size)


def grouped_bars(
    ax,
    values: Mapping[str, np.ndarray],
    tick_labels: Sequence[str],
    *,
    errors: Mapping[str, np.ndarray] | None = None,
    marks: np.ndarray | None = None,
    mark_label: str = "",
    ylim: tuple[float, float] | None = (0.0, 1.0),
    ylabel: str = "",
    title: str = "",
    legend_size: int = 7,
    legend_loc: str = "best",
    legend_ncol: int = 1,
) -> None:
    """Bars grouped by tick, one bar per label in each group.

    Args:
        values: ``label -> [K]`` heights, ``K = len(tick_labels)``.
        errors: optional ``label -> [K]`` error-bar half-widths, or ``[2, K]``
            (below, above) for asymmetric bars.
        marks: optional ``[K]`` reference heights drawn as black ticks over
            each group (a target policy such as tit-for-tat).
    """
    labels = list(values)
    k = len(tick_labels)
    width = 0.8 / max(1, len(labels))
    for j, label in enumerate(labels):
        v = np.asarray(values[label], dtype=float)
        if v.shape != (k,):
            raise ValueError(f"values[{label!r}] has shape {v.shape}: expected ({k},)")
        xs = np.arange(k) - 0.4 + width * (j + 0.5)
        err = None if errors is None or label not in errors else np.asarray(errors[label])
        ax.bar(xs, v, width=width, yerr=err, capsize=2 if err is not None else 0, label=label)
    if marks is not None:
        ax.scatter(
            np.arange(k), np.asarray(marks), marker="_", s=600, color="k", label=mark_label or None
        )
    ax.set_xticks(np.arange(k))
    ax.set_xticklabels(list(tick_labels))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=legend_size, loc=legend_loc, ncol=legend_ncol)


def trajectory_panel(
    ax,
    x: np.ndarray,
    y: np.ndarray,
    *,
    target: tuple[float, float] | None = None,
    lim: tuple[float, float] | None = (0.0, 1.0),
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
) -> None:
    """Trajectories of two coordinates, one line per run, start ``o`` and end ``*``.

    Args:
        x, y: ``[K, R]`` coordinates of ``K`` runs over ``R`` records.
        target: optional point to mark (an equilibrium).
        lim: common axis limits (``None``: automatic).
    """
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    if x.shape != y.shape:
        raise ValueError(f"x has shape {x.shape} but y has shape {y.shape}: expected equal")
    for k in range(x.shape[0]):
        (line,) = ax.plot(x[k], y[k], linewidth=0.9)
        ax.plot(x[k, 0], y[k, 0], "o", color=line.get_color(), markersize=4)
        ax.plot(x[k, -1], y[k, -1], "*", color=line.get_color(), markersize=9)
    if target is not None:
        ax.plot(*target, "k+", markersize=12, markeredgewidth=2)
    if lim is not None:
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
