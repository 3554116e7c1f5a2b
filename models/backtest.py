"""Backtest a win-back policy on a past randomized campaign (off-policy evaluation).

Why: a merchant asks what Winback's policy *would* have earned on their latest campaign,
next to blanket policies ("everyone gets 10OFF", "contact no one"). That campaign was an
experiment: each targeted customer was put in control with a known share, and a treated
customer got an offer and a channel drawn uniformly from the campaign's offers and their
consented channels. So every logged contact had a known probability under that design,
and reweighting the customers whose logged action happens to equal the policy's action
estimates the policy's reward without running it.

Estimators, as the mean reward per targeted customer (``PolicyEstimate.total`` = value × n),
with w_i = 1[a_i = π(x_i)] / μ(a_i | x_i) and μ the logging propensity:

- ``ipw``:   V = 1/n Σ w_i r_i                        (unbiased; noisy when w is large)
- ``snipw``: V = Σ w_i r_i / Σ w_i                    (self-normalised; less variance, O(1/n) bias)
- ``dr``:    V = 1/n Σ [q(x_i, π(x_i)) + w_i (r_i − q(x_i, π(x_i)))]
  (unbiased for any reward model q because μ is known; a good q removes most variance)

Intervals are BCa bootstraps over customers (rows resampled with replacement; :func:`_interval`),
with the same resamples for every policy so differences between policies are paired. The
reward model is held fixed across resamples (it is cross-fitted, see
:func:`fit_reward_model`), so DR intervals leave out the model's own fitting noise.

Actions are offer codes, or ``"none"`` (control: no contact). A policy may pin the channel
as ``"OFFER@channel"``; a bare ``"OFFER"`` means the offer on one of the customer's
consented channels at random, as the campaign drew it, and is weighted by the offer's
propensity summed over channels (``offer_propensity``).

Plain typed functions; never imports prefect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm

NO_CONTACT = "none"
CHANNEL_SEPARATOR = "@"
METHODS = ("ipw", "snipw", "dr")
BASELINE_NAME = "send none"

# A policy: one action for everyone ("10OFF", "none"); a Series customer_id -> action
# ("10OFF", "10OFF@email", "none"); or a frame with customer_id, action and optionally
# channel (missing channel = drawn at random over consented channels, as logged).
Policy: TypeAlias = str | pd.Series | pd.DataFrame
# A reward model: (campaign frame, the arm per row as "OFFER", "OFFER@channel" or "none")
# -> the expected value of the evaluated target for that customer under that arm.
RewardModel: TypeAlias = Callable[[pd.DataFrame, pd.Series], npt.ArrayLike]

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ObjectArray: TypeAlias = npt.NDArray[np.object_]

_LOGGED_COLUMNS = ("customer_id", "action", "channel", "propensity", "converted", "reward")
_CONTACT_COLUMNS = ("customer_id", "group", "offer_code", "channel")


@dataclass(frozen=True)
class LoggedCampaign:
    """One randomized campaign: one row per targeted customer (their first contact only).

    ``frame`` columns: customer_id; action (offer code, or "none" for control); channel
    ("none" for control); propensity = P(logged action and channel | customer) under the
    logging design; offer_propensity = P(logged action | customer), summed over channels
    (needed only for policies that leave the channel to chance); converted (0/1 within
    the attribution window); reward (the caller's profit: value if converted minus the
    costs actually incurred). Any other columns (features) ride along for reward models.

    Validated on construction so every estimator can trust it.
    """

    frame: pd.DataFrame

    def __post_init__(self) -> None:
        _validate_logged(self.frame)

    @property
    def n(self) -> int:
        """Targeted customers (treatment and control)."""
        return len(self.frame)

    @classmethod
    def from_contacts(
        cls, contacts: pd.DataFrame, control_share: float | None = None
    ) -> LoggedCampaign:
        """From ``campaign_contacts`` rows of one campaign with ``converted`` and ``reward``.

        Control rows keep the offer they *would* have got in ``offer_code``; here their
        action is "none", because no contact is what the control customer experienced.
        When a customer has several steps, only the first contact is kept: later steps
        depend on the first one's outcome, so only the first is randomized as designed.
        """
        missing = [c for c in (*_CONTACT_COLUMNS, "converted", "reward") if c not in contacts]
        if missing:
            raise ValueError(f"campaign contacts lack column(s) {missing}")
        if "campaign_id" in contacts and contacts["campaign_id"].nunique() > 1:
            raise ValueError(
                "backtest one campaign at a time; got campaign_id "
                f"{sorted(contacts['campaign_id'].unique().tolist())}"
            )
        order = [c for c in ("step", "contact_ts") if c in contacts]
        first = contacts.sort_values(order, kind="stable") if order else contacts
        if not order and first["customer_id"].duplicated().any():
            raise ValueError(
                "several contacts per customer and no step or contact_ts to find the first"
            )
        first = first.drop_duplicates("customer_id", keep="first")
        propensities = logging_propensities(first, control_share)
        control = _is_control(first)
        frame = first.drop(columns=["group", "offer_code"]).assign(
            action=np.where(control, NO_CONTACT, first["offer_code"].astype(str)),
            channel=np.where(control, NO_CONTACT, first["channel"].astype(str)),
            propensity=propensities["propensity"],
            offer_propensity=propensities["offer_propensity"],
        )
        return cls(frame.reset_index(drop=True))


def _is_control(contacts: pd.DataFrame) -> BoolArray:
    groups = contacts["group"].astype(str)
    unknown = sorted(set(groups) - {"treatment", "control"})
    if unknown:
        raise ValueError(f"group must be 'treatment' or 'control'; got {unknown}")
    return np.asarray(groups == "control", dtype=bool)


def logging_propensities(
    contacts: pd.DataFrame, control_share: float | None = None
) -> pd.DataFrame:
    """P(logged action | customer) from the campaign's design, one row per contact.

    The design: control with probability ``control_share`` (estimated as the campaign's
    control fraction when not given); otherwise an offer uniform over the offers the
    campaign used and a channel uniform over the customer's consented channels. Their
    number is the ``n_channels`` column when given, else every channel the campaign used.

    Returns ``propensity`` (offer and channel) and ``offer_propensity`` (offer alone,
    summed over channels), indexed like ``contacts``. Needs customer_id, group,
    offer_code and channel.
    """
    missing = [c for c in _CONTACT_COLUMNS if c not in contacts]
    if missing:
        raise ValueError(f"campaign contacts lack column(s) {missing}")
    if contacts.empty:
        raise ValueError("the campaign has no contacts")
    control = _is_control(contacts)
    share = float(control.mean()) if control_share is None else float(control_share)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"control_share must be in [0, 1]; got {share}")
    if control.any() and share == 0.0:
        raise ValueError("control_share is 0 but the campaign has control rows")
    treated = ~control
    if treated.any() and share == 1.0:
        raise ValueError("control_share is 1 but the campaign has treated rows")
    offers = contacts.loc[treated, "offer_code"].astype(str).unique()
    channels = contacts.loc[treated, "channel"].astype(str).unique()
    if "n_channels" in contacts:
        n_channels = pd.to_numeric(contacts["n_channels"], errors="coerce").to_numpy(float)
        bad = treated & ~(n_channels >= 1)
        if bad.any():
            row = contacts.index[np.flatnonzero(bad)[0]]
            raise ValueError(
                f"n_channels must be >= 1 for treated customers; row {row!r} has "
                f"{contacts.loc[row, 'n_channels']!r}"
            )
    else:
        n_channels = np.full(len(contacts), float(max(len(channels), 1)))
    offer_p = np.where(control, share, (1.0 - share) / max(len(offers), 1))
    joint_p = np.where(control, share, offer_p / n_channels)
    return pd.DataFrame({"propensity": joint_p, "offer_propensity": offer_p}, index=contacts.index)


def _validate_logged(frame: pd.DataFrame) -> None:
    """Clear errors for what would otherwise bias an estimate silently."""
    missing = [c for c in _LOGGED_COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"logged campaign lacks column(s) {missing}")
    if frame.empty:
        raise ValueError("the campaign has no customers")
    duplicated = frame["customer_id"].duplicated()
    if duplicated.any():
        customer = frame.loc[duplicated, "customer_id"].iloc[0]
        raise ValueError(f"one row per customer; customer {customer!r} appears twice")
    for column in ("propensity", "offer_propensity"):
        if column not in frame:
            continue
        p = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        bad = ~((p > 0.0) & (p <= 1.0))
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise ValueError(
                f"{column} must be in (0, 1]; row {frame.index[i]!r} "
                f"(customer {frame['customer_id'].iloc[i]!r}) has {frame[column].iloc[i]!r}"
            )
    if "offer_propensity" in frame:
        below = frame["offer_propensity"].to_numpy(float) < frame["propensity"].to_numpy(float) * (
            1 - 1e-9
        )
        if below.any():
            i = np.flatnonzero(below)[0]
            raise ValueError(
                f"offer_propensity is below propensity in row {frame.index[i]!r}: "
                "an offer is at least as likely as the offer on one channel"
            )
    converted = pd.to_numeric(frame["converted"], errors="coerce")
    if not converted.isin([0, 1]).all():
        i = np.flatnonzero(~converted.isin([0, 1]).to_numpy())[0]
        raise ValueError(
            f"converted must be 0 or 1; row {frame.index[i]!r} has {frame['converted'].iloc[i]!r}"
        )
    reward = pd.to_numeric(frame["reward"], errors="coerce").to_numpy(float)
    if not np.isfinite(reward).all():
        i = np.flatnonzero(~np.isfinite(reward))[0]
        raise ValueError(
            f"reward must be a finite number; row {frame.index[i]!r} has {frame['reward'].iloc[i]!r}"
        )


@dataclass(frozen=True)
class PolicyEstimate:
    """A policy's estimated reward on the campaign's customers, by one estimator.

    ``value`` and its interval are per targeted customer (mean), so campaigns of
    different sizes compare; ``total`` is what the whole campaign would have earned.
    ``matched`` counts customers whose logged action equals the policy's: the only ones
    the estimate learns from, so a small count warns of a wide interval.
    """

    policy: str
    method: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    matched: int

    @property
    def total(self) -> float:
        """Estimated reward summed over the campaign's customers."""
        return self.value * self.n


@dataclass(frozen=True)
class _Arms:
    """The policy's action per campaign row; channel "" = drawn at random, as logged."""

    offer: ObjectArray
    channel: ObjectArray

    def labels(self) -> ObjectArray:
        """Arm names as reward models see them: "OFFER", "OFFER@channel" or "none"."""
        pinned = self.channel != ""
        keys = self.offer.copy()
        keys[pinned] = self.offer[pinned] + CHANNEL_SEPARATOR + self.channel[pinned]
        return keys


@dataclass(frozen=True)
class _Contributions:
    """Per-customer terms whose sums give every estimator (so resampling is a sum)."""

    weighted_reward: FloatArray  # w_i r_i
    weight: FloatArray  # w_i
    doubly_robust: FloatArray  # q_i + w_i (r_i - q_i)
    matched: int


def _resolve_policy(campaign: LoggedCampaign, policy: Policy, name: str) -> _Arms:
    """The policy's (offer, channel) for every campaign row, in row order."""
    customers = campaign.frame["customer_id"]
    if isinstance(policy, str):
        actions = pd.Series(policy, index=customers.index, dtype=object)
        channels = pd.Series("", index=customers.index, dtype=object)
    else:
        if isinstance(policy, pd.DataFrame):
            if "customer_id" not in policy or "action" not in policy:
                raise ValueError(f"policy {name!r}: a frame needs customer_id and action")
            table = policy.set_index("customer_id")
        else:
            table = policy.rename("action").to_frame()
        if table.index.duplicated().any():
            customer = table.index[table.index.duplicated()][0]
            raise ValueError(f"policy {name!r} gives customer {customer!r} two actions")
        table = table.reindex(customers.to_numpy())
        absent = table["action"].isna().to_numpy()
        if absent.any():
            raise ValueError(
                f"policy {name!r} has no action for {int(absent.sum())} campaign "
                f"customer(s), e.g. {customers.iloc[np.flatnonzero(absent)[0]]!r}"
            )
        actions = pd.Series(table["action"].astype(str).to_numpy(), index=customers.index)
        if "channel" in table:
            channels = pd.Series(
                table["channel"].fillna("").astype(str).to_numpy(), index=customers.index
            )
        else:
            channels = pd.Series("", index=customers.index, dtype=object)
    split = actions.str.partition(CHANNEL_SEPARATOR)
    offer = split[0].to_numpy(object)
    channel = np.where(split[2] != "", split[2], channels).astype(object)
    channel[offer == NO_CONTACT] = ""
    return _Arms(offer=offer, channel=channel)


def _check_support(campaign: LoggedCampaign, arms: _Arms, name: str) -> None:
    """A policy action the design never took has propensity 0: no reweighting reaches it."""
    logged = campaign.frame
    offers = set(logged["action"].astype(str))
    pairs = set(zip(logged["action"].astype(str), logged["channel"].astype(str), strict=True))
    for offer, channel in set(zip(arms.offer, arms.channel, strict=True)):
        if offer not in offers:
            raise ValueError(
                f"policy {name!r}: action {offer!r} was never taken by the logging design "
                f"(propensity 0), so it cannot be evaluated; logged actions: {sorted(offers)}"
            )
        if channel and (offer, channel) not in pairs:
            raise ValueError(
                f"policy {name!r}: action {offer + CHANNEL_SEPARATOR + channel!r} was never "
                "taken by the logging design (propensity 0), so it cannot be evaluated"
            )


def _weights(campaign: LoggedCampaign, arms: _Arms, name: str) -> FloatArray:
    """w_i = 1[logged action matches the policy's] / P(that match under the design)."""
    logged = campaign.frame
    action = logged["action"].astype(str).to_numpy(object)
    channel = logged["channel"].astype(str).to_numpy(object)
    random_channel = (arms.channel == "") & (arms.offer != NO_CONTACT)
    matched = (action == arms.offer) & (
        random_channel | (arms.offer == NO_CONTACT) | (channel == arms.channel)
    )
    propensity = logged["propensity"].to_numpy(float)
    if (matched & random_channel).any():
        if "offer_propensity" not in logged:
            raise ValueError(
                f"policy {name!r} leaves the channel to chance, which needs the campaign's "
                "offer_propensity (P(offer | customer) summed over channels)"
            )
        propensity = np.where(
            random_channel, logged["offer_propensity"].to_numpy(float), propensity
        )
    return np.where(matched, 1.0 / propensity, 0.0)


def fit_reward_model(
    campaign: LoggedCampaign,
    arms: Sequence[str],
    feature_columns: Sequence[str] = (),
    *,
    target: str = "reward",
    folds: int = 3,
    seed: int = 0,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """q(x, a): each customer's expected ``target`` under each arm, for DR.

    Without features: the arm's mean target over the customers who were logged with it
    (randomization makes that an unbiased estimate of the arm's mean; it is what DR needs
    to beat IPW on blanket policies). With features: a LightGBM regressor of the target
    on the features (text columns as categories) and the arm, cross-fitted over
    ``folds`` folds of customers so no customer's prediction saw their own outcome (an
    in-sample fit would leak the outcome into q and bias DR). One thread by default:
    these fits are small, and threads fighting over busy shared cores cost more than
    they save (20k customers, 5 arms: 0.7 s on one thread, 2-3.5 s on two busy cores;
    scikit-learn's HistGradientBoosting, which cannot be told, took 23 s). An arm
    "OFFER" pools that offer's channels (the channel was drawn at random within the
    customer's consented ones, as a channel-free policy would draw it); "OFFER@channel"
    is fitted on the offer and channel.

    Returns customer_id, action (the arm), predicted_reward (of ``target``).
    """
    logged = campaign.frame
    offer = logged["action"].astype(str).to_numpy(object)
    channel = logged["channel"].astype(str).to_numpy(object)
    pinned = offer + CHANNEL_SEPARATOR + channel
    y = pd.to_numeric(logged[target], errors="raise").to_numpy(float)
    wanted = list(dict.fromkeys(arms))
    predictions: dict[str, FloatArray] = {}
    by_channel = [a for a in wanted if CHANNEL_SEPARATOR in a]
    by_offer = [a for a in wanted if CHANNEL_SEPARATOR not in a]
    for labels, group in ((offer, by_offer), (pinned, by_channel)):
        if not group:
            continue
        if feature_columns:
            predictions |= _boosted_predictions(
                logged, labels, y, group, feature_columns, folds, seed, n_jobs
            )
        else:
            for arm in group:
                logged_with = labels == arm
                if not logged_with.any():
                    raise ValueError(f"no customer was logged with action {arm!r}")
                predictions[arm] = np.full(len(logged), y[logged_with].mean())
    customers = logged["customer_id"].to_numpy()
    return pd.DataFrame(
        {
            "customer_id": np.tile(customers, len(wanted)),
            "action": np.repeat(np.asarray(wanted, dtype=object), len(customers)),
            "predicted_reward": np.concatenate([predictions[a] for a in wanted])
            if wanted
            else np.zeros(0),
        }
    )


def _boosted_predictions(
    logged: pd.DataFrame,
    labels: ObjectArray,
    y: FloatArray,
    arms: Sequence[str],
    feature_columns: Sequence[str],
    folds: int,
    seed: int,
    n_jobs: int,
) -> dict[str, FloatArray]:
    """Cross-fitted LightGBM of y on features + arm, predicted for every wanted arm."""
    missing = [c for c in feature_columns if c not in logged]
    if missing:
        raise ValueError(f"logged campaign lacks feature column(s) {missing}")
    unknown = sorted(set(arms) - set(labels))
    if unknown:
        raise ValueError(f"no customer was logged with action(s) {unknown}")
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds; got {folds}")
    features = pd.DataFrame(
        {
            # Text features as categories, which LightGBM splits on natively.
            c: logged[c].astype("category")
            if not pd.api.types.is_numeric_dtype(logged[c])
            else logged[c].astype("float64")
            for c in feature_columns
        }
    ).reset_index(drop=True)
    arm_names = sorted(set(labels))
    logged_arm = pd.Categorical(labels, categories=arm_names)
    fold = np.random.default_rng(seed).permutation(len(logged)) % folds
    out = {arm: np.empty(len(logged)) for arm in arms}
    for k in range(folds):
        train, held_out = fold != k, fold == k
        model = lgb.LGBMRegressor(
            n_estimators=150,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=40,
            reg_lambda=1.0,
            n_jobs=n_jobs,
            random_state=seed,
            deterministic=True,
            force_row_wise=True,
            verbosity=-1,
        )
        model.fit(features[train].assign(_arm=logged_arm[train]), y[train])
        for arm in arms:
            as_arm = pd.Categorical([arm] * int(held_out.sum()), categories=arm_names)
            out[arm][held_out] = model.predict(features[held_out].assign(_arm=as_arm))
    return out


def _reward_predictions(
    campaign: LoggedCampaign,
    arms: _Arms,
    reward_model: RewardModel | pd.DataFrame,
    name: str,
) -> FloatArray:
    """q(x_i, π(x_i)) per row; a pinned-channel arm falls back to the offer's prediction."""
    logged = campaign.frame
    keys = arms.labels()
    if callable(reward_model):
        q = np.asarray(reward_model(logged, pd.Series(keys, index=logged.index)), dtype=float)
        if q.shape != (len(logged),):
            raise ValueError(f"reward model returned shape {q.shape}; expected ({len(logged)},)")
    else:
        needed = {"customer_id", "action", "predicted_reward"}
        if not needed <= set(reward_model.columns):
            raise ValueError(f"reward predictions need columns {sorted(needed)}")
        table = reward_model.set_index(["customer_id", "action"])["predicted_reward"]
        if table.index.duplicated().any():
            raise ValueError(
                f"reward predictions repeat {table.index[table.index.duplicated()][0]}"
            )
        customers = logged["customer_id"].to_numpy()
        q = np.array(table.reindex(pd.MultiIndex.from_arrays([customers, keys])), dtype=float)
        fallback = np.isnan(q) & (keys != arms.offer)
        if fallback.any():
            q[fallback] = table.reindex(
                pd.MultiIndex.from_arrays([customers[fallback], arms.offer[fallback]])
            ).to_numpy(float)
    if not np.isfinite(q).all():
        i = np.flatnonzero(~np.isfinite(q))[0]
        raise ValueError(
            f"policy {name!r}: no finite reward prediction for action {keys[i]!r} "
            f"(customer {logged['customer_id'].iloc[i]!r})"
        )
    return q


def _contributions(
    campaign: LoggedCampaign,
    arms: _Arms,
    q: FloatArray,
    target: str,
    name: str,
) -> _Contributions:
    w = _weights(campaign, arms, name)
    matched = int((w > 0).sum())
    if matched == 0:
        raise ValueError(
            f"policy {name!r}: no customer's logged action matches the policy's, "
            "so the campaign says nothing about it"
        )
    r = pd.to_numeric(campaign.frame[target], errors="raise").to_numpy(float)
    return _Contributions(
        weighted_reward=w * r, weight=w, doubly_robust=q + w * (r - q), matched=matched
    )


def _estimators(sums: FloatArray, n: int) -> FloatArray:
    """(…, 3) sums of (w r, w, DR term) -> (…, 3) ipw, snipw, dr."""
    with np.errstate(invalid="ignore", divide="ignore"):
        snipw = sums[..., 0] / sums[..., 1]
    return np.stack(
        [sums[..., 0] / n, np.where(sums[..., 1] > 0, snipw, np.nan), sums[..., 2] / n], axis=-1
    )


def _bootstrap_sums(terms: FloatArray, n_bootstrap: int, seed: int) -> FloatArray:
    """(B, k) column sums of ``terms`` (n, k) over B resamples of its rows.

    Each resample is a vector of row counts, so a chunk of resamples is one matrix
    product: vectorised over customers, a loop only over chunks of replicates.
    """
    n = terms.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((n_bootstrap, terms.shape[1]))
    chunk = max(1, min(n_bootstrap, 2_000_000 // n))
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        draws = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)
        out[start : start + b] = counts @ terms
    return out


@dataclass(frozen=True)
class _Evaluation:
    """Point estimates and bootstrap replicates of several policies on the same resamples."""

    names: list[str]
    matched: list[int]
    point: FloatArray  # (policies, methods)
    replicates: FloatArray  # (B, policies, methods)
    influence: FloatArray  # (customers, policies, methods): for the BCa acceleration


def _evaluate(
    campaign: LoggedCampaign,
    policies: Mapping[str, Policy],
    *,
    reward_model: RewardModel | pd.DataFrame | None,
    feature_columns: Sequence[str],
    target: str,
    n_bootstrap: int,
    seed: int,
) -> _Evaluation:
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1; got {n_bootstrap}")
    if target not in campaign.frame:
        raise ValueError(f"logged campaign has no target column {target!r}")
    if not policies:
        raise ValueError("no policy to evaluate")
    resolved = {}
    for name, policy in policies.items():
        arms = _resolve_policy(campaign, policy, name)
        _check_support(campaign, arms, name)
        resolved[name] = arms
    if reward_model is None:
        needed = sorted({k for arms in resolved.values() for k in arms.labels()})
        reward_model = fit_reward_model(campaign, needed, feature_columns, target=target, seed=seed)
    terms = []
    matched = []
    for name, arms in resolved.items():
        q = _reward_predictions(campaign, arms, reward_model, name)
        c = _contributions(campaign, arms, q, target, name)
        terms += [c.weighted_reward, c.weight, c.doubly_robust]
        matched.append(c.matched)
    stacked = np.column_stack(terms)
    k = len(resolved)
    n = campaign.n
    point = _estimators(stacked.sum(axis=0).reshape(k, 3), n)
    sums = _bootstrap_sums(stacked, n_bootstrap, seed).reshape(n_bootstrap, k, 3)
    influence = _influence(stacked.reshape(n, k, 3), point)
    return _Evaluation(list(resolved), matched, point, _estimators(sums, n), influence)


def _influence(terms: FloatArray, point: FloatArray) -> FloatArray:
    """Each customer's influence on each estimate (n, policies, methods), from the rows'
    (w r, w, DR term): IPW and DR are means (the term minus the mean), SNIPW a ratio
    (its linearisation, (w r − V w) / mean w)."""
    wr, w, dr = terms[..., 0], terms[..., 1], terms[..., 2]
    mean_w = w.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        snipw = np.where(mean_w > 0, (wr - point[:, 1] * w) / mean_w, 0.0)
    return np.stack([wr - wr.mean(axis=0), snipw, dr - dr.mean(axis=0)], axis=-1)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")


def _interval(
    replicates: FloatArray, point: FloatArray, influence: FloatArray, alpha: float
) -> tuple[FloatArray, FloatArray]:
    """Bias-corrected and accelerated (BCa) bootstrap interval over the replicate axis (0)
    of estimates ``point`` (Efron 1987; Efron & Tibshirani, An Introduction to the
    Bootstrap, ch. 14). A mean of rare conversions times very uneven values is skewed
    right: the percentile interval is too short on that side, and BCa moves its ends by
    the bootstrap's median bias (z0) and the skewness of the customers' ``influence``
    (acceleration a = Σ U³ / (6 (Σ U²)^1.5)). With a = z0 = 0 it is the percentile
    interval. scipy.stats.bootstrap has BCa but computes the acceleration by leave-one-out
    over customers (n² work); these estimators are means and a ratio of means, whose
    influence is exact in closed form.

    SNIPW is undefined on a resample without a matched customer (NaN); such resamples
    are left out, and an interval with no defined resample is NaN rather than a warning.
    """
    valid = ~np.isnan(replicates)
    defined = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        below = ((replicates < point) & valid).sum(axis=0) + 0.5 * (
            (replicates == point) & valid
        ).sum(axis=0)
        share = np.clip(below / defined, 1.0 / (defined + 1.0), defined / (defined + 1.0))
        z0 = norm.ppf(share)
        s2 = (influence**2).sum(axis=0)
        a = np.where(s2 > 0, (influence**3).sum(axis=0) / (6.0 * s2**1.5), 0.0)
    ends = []
    for q in (alpha / 2, 1 - alpha / 2):
        z = z0 + norm.ppf(q)
        level = norm.cdf(z0 + z / (1.0 - a * z))
        out = np.full(point.shape, np.nan)
        for cell in np.ndindex(point.shape):
            column = replicates[(slice(None), *cell)]
            column = column[~np.isnan(column)]
            if len(column) and np.isfinite(level[cell]):
                out[cell] = np.quantile(column, level[cell])
        ends.append(out)
    return ends[0], ends[1]


def evaluate_policy(
    campaign: LoggedCampaign,
    policy: Policy,
    *,
    name: str = "policy",
    reward_model: RewardModel | pd.DataFrame | None = None,
    feature_columns: Sequence[str] = (),
    target: str = "reward",
    n_bootstrap: int = 500,
    seed: int = 0,
    alpha: float = 0.05,
) -> list[PolicyEstimate]:
    """The policy's mean ``target`` per customer by IPW, SNIPW and DR, with (1 − alpha)
    BCa bootstrap intervals.

    ``reward_model`` for DR: predictions (customer_id, action, predicted_reward), a
    callable (see ``RewardModel``), or None to fit one with :func:`fit_reward_model` on
    ``feature_columns`` (per-arm means when there are none).
    """
    _check_alpha(alpha)
    evaluation = _evaluate(
        campaign,
        {name: policy},
        reward_model=reward_model,
        feature_columns=feature_columns,
        target=target,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    low, high = _interval(evaluation.replicates, evaluation.point, evaluation.influence, alpha)
    return [
        PolicyEstimate(
            policy=name,
            method=method,
            value=float(evaluation.point[0, j]),
            ci_low=float(low[0, j]),
            ci_high=float(high[0, j]),
            n=campaign.n,
            matched=evaluation.matched[0],
        )
        for j, method in enumerate(METHODS)
    ]


def compare_policies(
    campaign: LoggedCampaign,
    policies: Mapping[str, Policy],
    *,
    baseline: str = BASELINE_NAME,
    reward_model: RewardModel | pd.DataFrame | None = None,
    feature_columns: Sequence[str] = (),
    target: str = "reward",
    n_bootstrap: int = 500,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per policy × method: the estimate and its difference to ``baseline``.

    The baseline defaults to "send none" (no contact for anyone), added when ``policies``
    has no policy of that name. Differences are bootstrapped on the same resamples as
    the estimates (paired), so their interval is much tighter than the two intervals'
    overlap suggests. Columns: policy, method, value, ci_low, ci_high, total, n, matched,
    baseline, vs_baseline, vs_baseline_ci_low, vs_baseline_ci_high.
    """
    _check_alpha(alpha)
    policies = dict(policies)
    if baseline not in policies:
        if baseline != BASELINE_NAME:
            raise ValueError(f"baseline {baseline!r} is not one of the policies {list(policies)}")
        policies[BASELINE_NAME] = NO_CONTACT
    evaluation = _evaluate(
        campaign,
        policies,
        reward_model=reward_model,
        feature_columns=feature_columns,
        target=target,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    b = evaluation.names.index(baseline)
    low, high = _interval(evaluation.replicates, evaluation.point, evaluation.influence, alpha)
    diff_point = evaluation.point - evaluation.point[b]
    diff_low, diff_high = _interval(
        evaluation.replicates - evaluation.replicates[:, [b]],
        diff_point,
        evaluation.influence - evaluation.influence[:, [b]],
        alpha,
    )
    rows = [
        {
            "policy": name,
            "method": method,
            "value": evaluation.point[i, j],
            "ci_low": low[i, j],
            "ci_high": high[i, j],
            "total": evaluation.point[i, j] * campaign.n,
            "n": campaign.n,
            "matched": evaluation.matched[i],
            "baseline": baseline,
            "vs_baseline": diff_point[i, j],
            "vs_baseline_ci_low": diff_low[i, j],
            "vs_baseline_ci_high": diff_high[i, j],
        }
        for i, name in enumerate(evaluation.names)
        for j, method in enumerate(METHODS)
    ]
    return pd.DataFrame(rows)
