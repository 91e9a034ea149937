"""Phase portraits: the drawing half of :mod:`detente.analysis.phase`.

:func:`plot_phase_portrait` draws a two-parameter game's learning field
(streamlines), the discrete learning steps from a few starts, the basins of
attraction and the fixed points marked by their stability.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detente.analysis.phase import (
    Basins,
    Trajectories,
    VectorField,
    _check_space,
    _sigmoid_players,
    to_space,
)
from detente.analysis.stability import FixedPoint
from detente.games.differentiable import DifferentiableGame

__all__ = ["axis_labels", "plot_phase_portrait"]


_MARKERS = {  # label -> (marker, face colour, size)
    "stable": ("o", "black", 9),
    "unstable": ("o", "white", 9),
    "saddle": ("X", "black", 10),
    "neutral": ("D", "white", 7),
}


def axis_labels(game: DifferentiableGame, space: str) -> tuple[str, str]:
    """Axis labels from the game: its parameter or probability names per player."""
    _check_space(game, space)
    labels = game.policy_labels or ("theta",)
    per_player = labels[0].split(" / ") if " / " in labels[0] else [labels[0]] * 2
    if space == "policy":
        return tuple(f"player {i + 1}: P({per_player[i]})" for i in range(2))
    if _sigmoid_players(game):
        return tuple(f"player {i + 1}: logit of P({per_player[i]})" for i in range(2))
    names = ("x", "y") if len(game.policy_labels) <= 1 else ("theta_1", "theta_2")
    return tuple(f"{names[i]} (player {i + 1})" for i in range(2))


def plot_phase_portrait(
    game: DifferentiableGame,
    field: VectorField,
    *,
    fixed_points: Sequence[FixedPoint] = (),
    trajectories: Trajectories | None = None,
    basins: Basins | None = None,
    title: str = "",
    path=None,
    ax=None,
):
    """Streamlines of the field, trajectories and fixed points marked by stability.

    Fixed points: filled circle = stable, open circle = unstable, ``X`` =
    saddle, open diamond = neutral (centre, or a line of fixed points).
    Trajectories (the discrete learning map) are drawn with their start
    (small circle) and end (star). Basins, if given, shade the background by
    the fixed point reached (grey: none).

    Args:
        game: the game (axis labels, coordinates of the fixed points).
        field: from :func:`vector_field`; its ``space`` is the plot's.
        fixed_points: from :func:`find_fixed_points`.
        trajectories: from :func:`trajectories` (same space).
        basins: from :func:`basins_of_attraction` (same space).
        title: the axes' title.
        path: write a ``.png`` here (the figure is then closed).
        ax: draw on these matplotlib axes (default: a new figure).

    Returns:
        The matplotlib axes.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from detente.analysis.plots import _pyplot

    plt = _pyplot()
    space = field.space
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.4, 5.8))
    x, y = field.x, field.y
    handles = []
    if basins is not None and basins.index.size:
        k = len(basins.fractions)
        idx = basins.index
        none = f"no fixed point after {basins.steps} steps"
        if 0 < k <= 6:
            colours = ["#fbb4ae", "#e6e6e6", *plt.get_cmap("Pastel2").colors[:k]]
            names = ["diverged", none, *[f"reaches fixed point {j}" for j in range(k)]]
            shade = idx + 2  # -2 diverged, -1 none, fixed point j -> j + 2
        else:  # no or many fixed points (a continuum): shade by "reached one" only
            colours = ["#fbb4ae", "#e6e6e6", "#b3e2cd"]
            names = ["diverged", none, "reaches a fixed point"]
            shade = np.where(idx >= 0, 2, idx + 2)
        ax.pcolormesh(
            basins.x,
            basins.y,
            shade,
            cmap=ListedColormap(colours),
            vmin=-0.5,
            vmax=len(colours) - 0.5,
            shading="nearest",
            alpha=0.55,
            linewidth=0,
        )
        for j in np.unique(shade):
            handles.append(Patch(facecolor=colours[j], alpha=0.55, label=f"basin: {names[j]}"))
    speed = np.hypot(field.u, field.v)
    if np.any(speed > 0):
        ax.streamplot(
            x,
            y,
            field.u,
            field.v,
            color="#2f4b7c",
            density=0.8,
            linewidth=0.6 + 0.9 * speed / speed.max(),
            arrowsize=0.9,
        )
    if trajectories is not None:
        for k in range(trajectories.points.shape[0]):
            p = trajectories.points[k]
            (line,) = ax.plot(p[:, 0], p[:, 1], color="tab:red", linewidth=1.0, alpha=0.9)
            ax.plot(p[0, 0], p[0, 1], "o", color=line.get_color(), markersize=4)
            ax.plot(p[-1, 0], p[-1, 1], "*", color=line.get_color(), markersize=9)
    for label, (marker, face, size) in _MARKERS.items():
        pts = [fp.theta for fp in fixed_points if fp.label == label]
        if not pts:
            continue
        q = to_space(game, np.asarray(pts), space)
        many = len(pts) > 8
        ax.scatter(
            q[:, 0],
            q[:, 1],
            marker=marker,
            s=(size * (0.6 if many else 1.0)) ** 2,
            facecolors=face,
            edgecolors="black",
            linewidths=1.2,
            zorder=5,
        )
        handles.append(
            Line2D(
                [],
                [],
                marker=marker,
                linestyle="",
                markerfacecolor=face,
                markeredgecolor="black",
                markersize=size * 0.8,
                label=f"{label} ({len(pts)})" if len(pts) > 1 else label,
            )
        )
    if trajectories is not None:
        handles.append(Line2D([], [], color="tab:red", label="learning steps"))
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    xl, yl = axis_labels(game, space)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    if title:
        ax.set_title(title, fontsize=10)
    if handles:
        ax.legend(
            handles=handles,
            fontsize=7,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.13),
            ncol=2,
            frameon=False,
        )
    if path is not None:
        fig = fig or ax.figure
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return ax
