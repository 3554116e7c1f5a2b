"""Why a customer scores high: SHAP values from LightGBM, turned into readable reasons."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from winback.models.features import model_input
from winback.models.reasons import code_for_feature, phrase_for
from winback.models.training import booster_of


def readable_reason(feature: str, value: object) -> str:
    """A phrase for one feature pushing the risk up, rendered from its reason code
    (:mod:`winback.models.reasons`); unknown features still read well."""
    return phrase_for(code_for_feature(feature), value if isinstance(value, str) else None)


def shap_values(
    model: object,
    features: pd.DataFrame,
    columns: list[str],
    *,
    chunk_rows: int = 50_000,
    threads: int = 0,
) -> pd.DataFrame:
    """Per-customer SHAP contributions (log-odds of the uncalibrated booster; the
    calibrator is monotone, so the order of reasons is the same).

    Exact TreeSHAP, computed ``chunk_rows`` rows at a time (LightGBM's output is
    rows × (features + 1) doubles, so chunks bound the memory) with ``threads`` OpenMP
    threads (0: LightGBM's default, all cores).
    """
    booster = booster_of(model).booster_
    x = model_input(features, columns)
    out = np.empty((len(x), len(columns)), dtype="float64")
    for start in range(0, len(x), chunk_rows):
        part = booster.predict(
            x.iloc[start : start + chunk_rows], pred_contrib=True, num_threads=threads
        )
        out[start : start + chunk_rows] = np.asarray(part)[:, : len(columns)]
    return pd.DataFrame(out, columns=columns, index=features.index)


def _path_attribution_matrix(booster: lgb.Booster, width: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Per leaf of every tree, how much each split on the way from the root moved the
    prediction (value of the child taken minus value of the node), as a sparse
    (all leaves × features) matrix, and each tree's first row in it."""
    trees = booster.dump_model()["tree_info"]
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    offsets = np.zeros(len(trees), dtype=np.int64)
    total = 0
    for t, tree in enumerate(trees):
        offsets[t] = total
        stack: list[tuple[dict[str, Any], list[tuple[int, float]]]] = [(tree["tree_structure"], [])]
        while stack:
            node, path = stack.pop()
            if "leaf_index" in node:
                for feature, delta in path:
                    rows.append(total + node["leaf_index"])
                    cols.append(feature)
                    data.append(delta)
                continue
            for side in ("left_child", "right_child"):
                child = node[side]
                value = child["leaf_value"] if "leaf_index" in child else child["internal_value"]
                stack.append(
                    (child, [*path, (node["split_feature"], value - node["internal_value"])])
                )
        total += int(tree["num_leaves"])
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(total, width))
    return matrix, offsets


# LightGBM hands leaf numbers back as rows x trees doubles and then converts them to
# int32: 480 MB of new memory per 100k rows at 400 trees. Touching that many fresh pages
# cost these machines as much as the pass itself (1M customers, 400 trees: 20-25 s in
# chunks of 100k rows, 11 s in chunks of 8k rows, whose buffers the allocator reuses).
LEAF_CHUNK_BYTES = 24 * 2**20


def leaf_indices(model: object, x: pd.DataFrame, *, chunk_rows: int | None = None) -> np.ndarray:
    """Which leaf of every tree each row of ``x`` (the model's input) falls in: one pass
    through the trees, from which both the score (:func:`log_odds_from_leaves`) and the
    path attributions (:func:`path_contributions`) follow. Rows × trees, in the smallest
    unsigned integer type that holds a leaf number (2 bytes for LightGBM's usual sizes).
    ``chunk_rows``: rows per call to LightGBM (default: what keeps its output within
    ``LEAF_CHUNK_BYTES``)."""
    booster = booster_of(model)
    if chunk_rows is None:
        chunk_rows = max(1, LEAF_CHUNK_BYTES // (8 * max(booster.booster_.num_trees(), 1)))
    dtype = np.min_scalar_type(max(int(booster.get_params()["num_leaves"]) - 1, 0))
    out = np.empty((0, 0), dtype=dtype)
    for start in range(0, len(x), chunk_rows):
        part = np.asarray(booster.predict(x.iloc[start : start + chunk_rows], pred_leaf=True))
        part = part.reshape(len(part), -1)  # trees: the iterations predict uses
        if start == 0:
            out = np.empty((len(x), part.shape[1]), dtype=dtype)
        out[start : start + len(part)] = part
    return out


def log_odds_from_leaves(model: object, leaves: np.ndarray) -> np.ndarray:
    """The booster's log-odds from each row's leaves: the leaf outputs added tree by tree
    in LightGBM's order, so the result is bit for bit ``predict(raw_score=True)``."""
    booster = booster_of(model).booster_
    total = np.zeros(len(leaves), dtype="float64")
    # Each tree's highest leaf reached, in one pass over the rows (not one per tree).
    highest = leaves.max(axis=0, initial=0)
    for tree in range(leaves.shape[1]):
        outputs = np.array(
            [booster.get_leaf_output(tree, leaf) for leaf in range(int(highest[tree]) + 1)],
            dtype="float64",
        )
        total += outputs[leaves[:, tree]]
    return total


def path_attribution_matrix(model: object, columns: list[str]) -> tuple[sp.csr_matrix, np.ndarray]:
    """The model's leaf × feature attribution matrix and tree offsets, for
    :func:`path_contributions` calls on many chunks of customers (built once)."""
    return _path_attribution_matrix(booster_of(model).booster_, len(columns))


def path_contributions(
    model: object,
    features: pd.DataFrame,
    columns: list[str],
    *,
    chunk_rows: int = 4_096,
    attribution: tuple[sp.csr_matrix, np.ndarray] | None = None,
    leaves: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-customer path attributions (Saabas): each split on a customer's path through
    every tree credits its feature with the change in prediction it made. The same
    log-odds scale and sum as SHAP, but linear in tree depth instead of quadratic: the
    cheap path for customers whose reasons are read less (see ``scoring.score``).
    Computed as leaf memberships (``pred_leaf``) times a sparse leaf × feature matrix
    (``attribution``: :func:`path_attribution_matrix`, built here when not given;
    ``leaves``: the rows' :func:`leaf_indices`, found here when not given), ``chunk_rows``
    customers at a time: each chunk's membership matrix holds rows × trees entries, and
    small ones reuse the allocator's memory (733k customers, 400 trees: 13 s in chunks of
    4,096 rows, 15 s in chunks of 25,000)."""
    booster = booster_of(model).booster_
    matrix, offsets = attribution or _path_attribution_matrix(booster, len(columns))
    if leaves is None:
        leaves = leaf_indices(model, model_input(features, columns))
    out = np.empty((len(features), len(columns)), dtype="float64")

    def attribute(start: int) -> None:
        part = leaves[start : start + chunk_rows].astype(np.int64)
        n, trees = part.shape
        membership = sp.csr_matrix(
            (
                np.ones(n * trees),
                (part + offsets[None, :trees]).ravel(),
                np.arange(0, n * trees + 1, trees),
            ),
            shape=(n, matrix.shape[0]),
        )
        out[start : start + n] = (membership @ matrix).toarray()

    # scipy's sparse product lets go of the GIL: chunks on every core (each writes its
    # own rows, so the result is the same in any order; 792k customers: 13.7 s -> 7.5 s).
    list(_path_pool().map(attribute, range(0, len(features), chunk_rows)))
    return pd.DataFrame(out, columns=columns, index=features.index)


@functools.cache
def _path_pool() -> ThreadPoolExecutor:
    """One pool of threads for every call of :func:`path_contributions`, one per core: a
    new pool per call left each of its short-lived threads' allocator arena holding
    memory (1M first night: scoring's peak 5,083 -> 5,585 MiB with a pool per call)."""
    return ThreadPoolExecutor(max(1, len(os.sched_getaffinity(0))), "winback-path")


class _Vocabulary:
    """Reason texts as integer ids, each with its reason code (a text is one code's
    phrase, with a text feature's value shown), so a million customers' reasons are
    handled as integers until the end."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.codes: list[str] = []

    def add(self, code: str, value: str | None = None) -> int:
        text = phrase_for(code, value)
        if text not in self.ids:
            self.ids[text] = len(self.ids)
            self.codes.append(code)
        return self.ids[text]


def _value_text_ids(
    name: str, features: pd.DataFrame, base_id: int, vocabulary: _Vocabulary
) -> np.ndarray | None:
    """Per-row id of a text feature's reason text, which shows its value; None for
    numbers or when no value is shown. Each distinct value is phrased once (a million
    customers have a handful of statuses)."""
    if name not in features.columns:
        return None
    column = features[name]
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return None
    value_codes, values = pd.factorize(column.to_numpy(dtype=object))
    if not any(isinstance(v, str) and v != "" for v in values):
        return None
    code = code_for_feature(name)
    ids_of_values = [vocabulary.add(code, v if isinstance(v, str) else None) for v in values]
    # a missing value (factorize code -1) reads as the plain phrase
    return np.append(np.asarray(ids_of_values, dtype=np.int64), base_id)[value_codes]


def top_reasons(
    contributions: pd.DataFrame, features: pd.DataFrame, count: int = 3
) -> pd.DataFrame:
    """The ``count`` strongest churn-raising reasons per customer: ``reason_k`` the
    readable text, ``reason_k_code`` its reason code (what SQL reads); features that
    point the same way (one code) collapse into one reason. Empty when none.

    Vectorised over customers: only the few strongest contributions per row can become
    reasons (``count`` plus one per feature whose phrase repeats another's), so the
    loop runs over those ranks, never over customers. Texts are handled as integer ids
    into one vocabulary until the end (no per-customer strings are built).
    """
    values = contributions.to_numpy(dtype="float64")
    rows, width = values.shape
    names = [str(n) for n in contributions.columns]
    vocabulary = _Vocabulary()
    base = np.array([vocabulary.add(code_for_feature(n)) for n in names], dtype=np.int64)
    ranks = min(width, count + width - len(vocabulary.ids))
    order = np.argsort(-values, axis=1, kind="stable")[:, :ranks]
    ranked_values = np.take_along_axis(values, order, axis=1)
    # Text of each (customer, rank): the feature's phrase, with the value of text features.
    ids = base[order]
    for j, name in enumerate(names):
        per_row = _value_text_ids(name, features, int(base[j]), vocabulary)
        if per_row is None:
            continue
        hit = order == j
        ids[hit] = np.broadcast_to(per_row[:, None], order.shape)[hit]
    chosen = np.full((rows, count), -1, dtype=np.int64)
    taken = np.zeros(rows, dtype=np.int64)
    everyone = np.arange(rows)
    for k in range(ranks):
        text_id = ids[:, k]
        fresh = (
            (ranked_values[:, k] > 0) & (taken < count) & ~(chosen == text_id[:, None]).any(axis=1)
        )
        chosen[everyone[fresh], taken[fresh]] = text_id[fresh]
        taken += fresh
    # Lookups with a trailing None: position -1 (no reason) reads as null.
    texts = np.asarray([*vocabulary.ids, None], dtype=object)[chosen]
    codes = np.asarray([*vocabulary.codes, None], dtype=object)[chosen]
    return pd.DataFrame(
        np.hstack([texts, codes]),
        columns=[f"reason_{k + 1}" for k in range(count)]
        + [f"reason_{k + 1}_code" for k in range(count)],
        index=contributions.index,
    )


def feature_importance(model: object) -> pd.DataFrame:
    """Total gain per feature, largest first."""
    booster = booster_of(model)
    gain = booster.booster_.feature_importance(importance_type="gain")
    return (
        pd.DataFrame({"feature": booster.feature_name_, "gain": gain})
        .sort_values(["gain", "feature"], ascending=[False, True])
        .reset_index(drop=True)
    )
