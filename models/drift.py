"""Score drift: the population stability index (PSI) of two probability distributions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# A common reading of PSI: < 0.1 stable, 0.1–0.2 moderate shift, > 0.2 a shift to look at.
DEFAULT_BINS = 10


def population_stability_index(
    expected: npt.ArrayLike, actual: npt.ArrayLike, bins: int = DEFAULT_BINS
) -> float:
    """PSI of ``actual`` against ``expected`` over ``bins`` equal-width bins of [0, 1].

    sum((a - e) * ln(a / e)) over bins of the two shares; empty bins get a tiny share
    (1e-4) so a bin that empties or fills counts heavily but finitely.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    e = np.clip(np.asarray(expected, dtype=float), 0.0, 1.0)
    a = np.clip(np.asarray(actual, dtype=float), 0.0, 1.0)
    if e.size == 0 or a.size == 0:
        raise ValueError("PSI needs two non-empty distributions")
    e_share = np.histogram(e, bins=edges)[0] / e.size
    a_share = np.histogram(a, bins=edges)[0] / a.size
    e_share = np.clip(e_share, 1e-4, None)
    a_share = np.clip(a_share, 1e-4, None)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))
