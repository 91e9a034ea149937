"""Analysis of games and learning dynamics.

Fixed points of a learning rule pairing's update map and their stability
(:mod:`~detente.analysis.stability`), vector fields, phase portraits and basins
of attraction of two-parameter games (:mod:`~detente.analysis.phase`),
response graphs, their sink components and alpha-Rank
(:mod:`~detente.analysis.response_graph`), cross-play matrices of
zero-shot-coordination agents (:mod:`~detente.analysis.crossplay`; call
``detente.analysis.crossplay.crossplay``: the module keeps its name here), and
plots of learning curves.
"""

from detente.analysis.crossplay import (
    CrossPlayResult,
    crossplay_heatmap,
    group_summary,
    make_crossplay,
)
from detente.analysis.phase import (
    Basins,
    Trajectories,
    VectorField,
    basins_of_attraction,
    run_phase,
    trajectories,
    vector_field,
)
from detente.analysis.phase_plot import plot_phase_portrait
from detente.analysis.plots import plot_dynamics
from detente.analysis.response_graph import (
    AlphaRank,
    alpha_rank,
    response_graph,
    sink_components,
)
from detente.analysis.stability import (
    FixedPoint,
    classify,
    field_jacobian,
    find_fixed_points,
    make_field,
    make_update_map,
    stability_label,
)

__all__ = [
    "CrossPlayResult",
    "crossplay_heatmap",
    "group_summary",
    "make_crossplay",
    "AlphaRank",
    "Basins",
    "FixedPoint",
    "Trajectories",
    "VectorField",
    "alpha_rank",
    "basins_of_attraction",
    "classify",
    "field_jacobian",
    "find_fixed_points",
    "make_field",
    "make_update_map",
    "plot_dynamics",
    "plot_phase_portrait",
    "response_graph",
    "run_phase",
    "sink_components",
    "stability_label",
    "trajectories",
    "vector_field",
]
