"""How a win-back contact changes a customer's chance to come back, learned from the
merchant's own campaign history (R8, R10, R11, R12).

The evidence is ``campaign_contacts``: randomized campaigns in which treated customers got
an offer on a channel at some step of a sequence, and a control group got nothing (R10).
Each contact is read with the customer's features and likely reasons (R7) as of the
snapshot before it. Two LightGBM classifiers are fitted (a T-learner whose treated arm
shares one model across offers, channels and steps):

- the **treated model** ``f1(x, offer, channel, step)``: P(an order within the 14-day
  attribution window | contacted), on treated contacts;
- the **control model** ``f0(x, step)``: the same without a contact, on control contacts.

The learned uplift of a contact is ``τ = f1 − f0``. Where the history of an (offer,
channel) cell is thin it is pooled toward the merchant's prior (the seeds
``winback_reason_offer_priors`` and ``winback_channels.prior_effect``, weighted by the
customer's reason confidences): ``w·τ + (1 − w)·τ_prior`` with
``w = n_eff / (n_eff + strength)``, ``n_eff`` the effective treated-vs-control sample of
the cell. Without history the priors alone decide (``w = 0``). The default strength is
infinite: ``w = 0`` always, and a contact's chance of an order is the learned baseline
``f0`` plus the updated priors' uplift (``response_priors``), which earned more in the
benchmark's unseen worlds than pooling the T-learner in (README, ``make bench-decisions``)
and needs no per-contact tree prediction; the T-learner is still fitted and validated.

The learners see at most ``response.max_history_rows`` contacts (a seeded sample of the
history, like the churn model's ``max_train_rows``); the cells' evidence counts the whole
history.

``validate_on_latest_campaign`` refits on every contact before the newest randomized
campaign and scores that campaign: the Qini coefficient of the predicted uplift (area
between the Qini curve and random targeting) for the learned model and for the priors
alone, and the calibration of predicted against observed uplift by decile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from winback.config import ResponseParams
from winback.models.features import model_input
from winback.models.response_priors import PriorRows, Priors, update_priors

# Columns of the history and candidate frames that are not customer features.
HISTORY_COLUMNS = frozenset(
    {
        "contact_id",
        "customer_id",
        "campaign_id",
        "contact_date",
        "step",
        "offer_code",
        "channel",
        "is_control",
        "is_converted",
        # Whether the attribution window has closed (only complete rows are learned from).
        "is_outcome_complete",
        "as_of_date",
        "reason_as_of_date",
        # The churn probability scales the priors; it is not a feature (the history has
        # the status-index stand-in, tonight's candidates the churn model's score).
        "churn_probability",
        # What a return is worth (the backtest's reward), not a feature.
        "value_if_won_back",
    }
)


@dataclass
class ResponseModel:
    """A fitted response model (or the priors alone when ``treated`` is None)."""

    treated: lgb.LGBMClassifier | None
    control: lgb.LGBMClassifier | None
    features: list[str]
    offers: list[str]
    channels: list[str]
    # Effective sample (treated vs control) per (offer, channel) cell of the history.
    cell_evidence: dict[tuple[str, str], float] = field(default_factory=dict)
    contacts: int = 0
    prior_strength: float = 50.0
    # The merchant's priors updated by this history (``response_priors``): what the
    # learned uplift is pooled toward. None: the merchant's priors as given.
    priors: Priors | None = None

    @property
    def learned(self) -> bool:
        return self.treated is not None and self.control is not None

    @property
    def pools_learned_uplift(self) -> bool:
        """Whether the treated learner's uplift counts for any cell (not at the default
        infinite prior strength): only then is its input built and predicted."""
        return any(self.weight(offer, channel) > 0 for offer, channel in self.cell_evidence)

    def weight(self, offer: str, channel: str) -> float:
        """How much the learned uplift counts against the prior for a cell (0..1)."""
        if not self.learned:
            return 0.0
        n = self.cell_evidence.get((offer, channel), 0.0)
        return n / (n + self.prior_strength)


def feature_columns(history: pd.DataFrame) -> list[str]:
    """Customer features of a history frame (everything but the contact's own columns)."""
    return [c for c in history.columns if c not in HISTORY_COLUMNS]


def _classifier(params: ResponseParams) -> lgb.LGBMClassifier:
    return lgb.LGBMClassifier(
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        num_leaves=params.num_leaves,
        min_child_samples=params.min_child_samples,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=params.reg_lambda,
        n_jobs=params.n_jobs,
        random_state=params.seed,
        deterministic=True,
        force_row_wise=True,
        verbosity=-1,
    )


def _treated_input(
    frame: pd.DataFrame, features: list[str], offers: list[str], channels: list[str]
) -> pd.DataFrame:
    x = model_input(frame, features)
    x["contact_offer"] = pd.Categorical(frame["offer_code"].to_numpy(), categories=offers)
    x["contact_channel"] = pd.Categorical(frame["channel"].to_numpy(), categories=channels)
    x["contact_step"] = frame["step"].to_numpy(dtype="float64")
    return x


@dataclass(frozen=True)
class CustomerMatrix:
    """The customers' features as each learner's float matrix (text as the category
    codes that learner was trained with), computed once and reused for every contact a
    plan valuation asks about. The treated learner's matrix ends with three columns for
    the contact's offer, channel and step, the control learner's with one for the step:
    scratch columns, set before each prediction. No treated matrix when the model does
    not pool the learned uplift in (:attr:`ResponseModel.pools_learned_uplift`)."""

    treated: np.ndarray | None
    control: np.ndarray

    def rows(self, who: np.ndarray) -> CustomerMatrix:
        return CustomerMatrix(
            None if self.treated is None else self.treated[who], self.control[who]
        )


def _encoded(classifier: lgb.LGBMClassifier, x: pd.DataFrame, extra: int) -> np.ndarray:
    """``x`` (:func:`model_input`) as ``classifier``'s float matrix, as LightGBM encodes a
    frame itself (a category as its position among the training categories, unknown or
    missing as NaN), followed by ``extra`` scratch columns."""
    categories = iter(classifier.booster_.pandas_categorical or [])
    out = np.full((len(x), x.shape[1] + extra), np.nan)
    for j, column in enumerate(x.columns):
        values = x[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            known = next(categories, None)
            if known is None:
                raise ValueError(f"feature {column!r} is text now but was a number in training")
            codes = pd.Index(known).get_indexer(values.astype(object).to_numpy())
            out[:, j] = np.where(codes >= 0, codes, np.nan)
        else:
            out[:, j] = values.to_numpy(dtype="float64")
    return out


def customer_input(model: ResponseModel, frame: pd.DataFrame) -> CustomerMatrix | None:
    """The customers' :class:`CustomerMatrix` (None for the priors alone)."""
    if not model.learned:
        return None
    assert model.treated is not None and model.control is not None
    x = model_input(frame, model.features)
    treated = _encoded(model.treated, x, 3) if model.pools_learned_uplift else None
    return CustomerMatrix(treated, _encoded(model.control, x, 1))


def _predict(classifier: lgb.LGBMClassifier, matrix: np.ndarray) -> np.ndarray:
    """P(order) of each row of an :func:`_encoded` matrix."""
    return np.asarray(classifier.booster_.predict(matrix), dtype="float64")


def _control_input(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    x = model_input(frame, features)
    x["contact_step"] = frame["step"].to_numpy(dtype="float64")
    return x


def _positive(classifier: lgb.LGBMClassifier, x: pd.DataFrame) -> np.ndarray:
    """P(order) of each row of ``x``."""
    return np.asarray(classifier.predict_proba(x), dtype="float64")[:, 1]


def _effective(n_treated: float, n_control: float) -> float:
    return n_treated * n_control / (n_treated + n_control) if n_treated and n_control else 0.0


def sample_history(
    history: pd.DataFrame, params: ResponseParams, rows: np.ndarray | None = None
) -> pd.DataFrame:
    """At most ``params.max_history_rows`` contacts of ``history`` (a seeded sample, in
    the history's order) for the learners. ``rows``: a boolean mask of the contacts to
    sample from (default all): the same sample as from ``history[rows]``."""
    if rows is None:
        if len(history) <= params.max_history_rows:
            return history
        positions = np.arange(len(history))
    else:
        positions = np.flatnonzero(rows)
        if len(positions) <= params.max_history_rows:
            return history.iloc[positions]
    rng = np.random.default_rng(params.seed)
    keep = np.sort(rng.choice(len(positions), size=params.max_history_rows, replace=False))
    return history.iloc[positions[keep]]


def _fit_learners(model: ResponseModel, sample: pd.DataFrame, params: ResponseParams) -> None:
    is_control = sample["is_control"].astype(bool)
    treated, control = sample[~is_control], sample[is_control]
    model.treated = _classifier(params).fit(
        _treated_input(treated, model.features, model.offers, model.channels),
        treated["is_converted"].astype(int).to_numpy(),
    )
    model.control = _classifier(params).fit(
        _control_input(control, model.features), control["is_converted"].astype(int).to_numpy()
    )


def fit_response(
    history: pd.DataFrame,
    params: ResponseParams,
    priors: Priors | None = None,
    *,
    rows: np.ndarray | None = None,
) -> ResponseModel:
    """Fit the treated and control models on the campaign history; with too little of
    it (``params.min_treated`` / ``min_control`` contacts) return the priors-only model.
    Given the merchant's ``priors`` (and ``params.prior_update_sigma`` > 0), they are
    also updated by the history (``response_priors``), and the learned uplift is pooled
    toward the updated priors. ``rows``: a boolean mask of the contacts to fit on
    (default all): the model of ``history[rows]``, without copying every column of it."""
    features = feature_columns(history)
    fitted = np.ones(len(history), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    # The cells' columns only: the learners see a sample, the evidence counts every row.
    is_control = history["is_control"].astype(bool).to_numpy()
    treated = history.loc[~is_control & fitted, ["offer_code", "channel"]]
    control = history.loc[is_control & fitted, ["offer_code"]]
    offers = sorted(treated["offer_code"].dropna().unique().tolist())
    channels = sorted(treated["channel"].dropna().unique().tolist())
    model = ResponseModel(
        None, None, features, offers, channels, {}, int(fitted.sum()), params.prior_strength
    )
    if len(treated) < params.min_treated or len(control) < params.min_control:
        return model
    sample = sample_history(history, params, rows)
    _fit_learners(model, sample, params)
    if priors is not None and params.prior_update_sigma > 0:
        assert model.control is not None
        treated_sample = sample[~sample["is_control"].astype(bool)]
        baseline = _positive(model.control, _control_input(treated_sample, features))
        model.priors = update_priors(treated_sample, baseline, priors, params.prior_update_sigma)
    controls_by_offer = control.groupby("offer_code").size()
    treated_by_offer = treated.groupby("offer_code").size()
    for (offer, channel), n in treated.groupby(["offer_code", "channel"]).size().items():
        # Controls carry the offer they would have had, not a channel: a cell's control
        # arm is the offer's controls shared out over the channels it was sent on.
        channel_share = n / max(int(treated_by_offer.get(offer, 0)), 1)
        n_control = float(controls_by_offer.get(offer, 0)) * channel_share
        model.cell_evidence[(str(offer), str(channel))] = _effective(float(n), n_control)
    return model


@dataclass(frozen=True)
class ContactResponse:
    """P(an order in a contact's window) with and without the contact, per row."""

    treated: np.ndarray  # q: with the contact
    baseline: np.ndarray  # b: without it
    learned_weight: float  # how much history counted against the prior for this cell

    @property
    def uplift(self) -> np.ndarray:
        return self.treated - self.baseline


def baseline_response(
    model: ResponseModel,
    frame: pd.DataFrame,
    step: int,
    window_days: float,
    x: CustomerMatrix | None = None,
) -> np.ndarray:
    """P(an order within the window of contact ``step`` | no contact). ``x``: the rows'
    :func:`customer_input`, when the caller has it."""
    if model.learned:
        assert model.control is not None
        if x is None:
            x = customer_input(model, frame)
            assert x is not None
        x.control[:, -1] = float(step)
        return _predict(model.control, x.control)
    # Without history: those not churning buy at their own cadence (R1, R14).
    churn = frame["churn_probability"].to_numpy(dtype="float64")
    gap = frame["median_gap_days"].to_numpy(dtype="float64")
    gap = np.where(np.isfinite(gap) & (gap > 0), gap, 365.0)
    return (1.0 - churn) * np.minimum(1.0, window_days / gap)


def learned_uplift(
    model: ResponseModel, frame: pd.DataFrame, *, offer: str, channel: str, step: int
) -> np.ndarray:
    """The learned uplift ``f1 − f0`` of a contact, before any pooling toward the priors
    (zero where the model has not seen the offer or the channel)."""
    if not model.learned or offer not in model.offers or channel not in model.channels:
        return np.zeros(len(frame))
    assert model.treated is not None and model.control is not None
    x = _treated_input(
        frame.assign(offer_code=offer, channel=channel, step=step),
        model.features,
        model.offers,
        model.channels,
    )
    treated = _positive(model.treated, x)
    return treated - _positive(
        model.control, _control_input(frame.assign(step=step), model.features)
    )


def contact_response(
    model: ResponseModel,
    priors: Priors,
    frame: pd.DataFrame | PriorRows,
    *,
    offer: str,
    channel: str,
    step: int,
    baseline: np.ndarray,
    x: CustomerMatrix | None = None,
) -> ContactResponse:
    """The response of every row of ``frame`` to a contact with ``offer`` on ``channel``
    at ``step`` of a sequence: the learned uplift pooled toward the prior. ``x``: the
    rows' :func:`customer_input`, when the caller has it (``frame`` may then be the
    rows' :class:`PriorRows` alone). The model's updated priors, if
    it has them, replace ``priors``."""
    if model.priors is not None:
        priors = model.priors
    prior = priors.uplift(frame, offer, channel, step)
    w = model.weight(offer, channel)
    if w > 0 and offer in model.offers and channel in model.channels:
        assert model.treated is not None
        if x is None:
            assert isinstance(frame, pd.DataFrame), "the learned uplift needs the features"
            x = customer_input(model, frame)
        assert x is not None and x.treated is not None
        x.treated[:, -3:] = (
            model.offers.index(offer),
            model.channels.index(channel),
            float(step),
        )
        treated = _predict(model.treated, x.treated)
        learned = treated - baseline
        uplift = w * learned + (1.0 - w) * prior
    else:
        w = 0.0
        uplift = prior
    treated = np.clip(baseline + uplift, 0.0, 1.0)
    return ContactResponse(treated, baseline, w)


# --- validation on the newest campaign ------------------------------------------------------


def qini_coefficient(converted: np.ndarray, treated: np.ndarray, uplift: np.ndarray) -> float:
    """Area between the Qini curve of ``uplift`` (customers ranked by it: treated
    conversions minus control conversions scaled to the treated count, cumulatively) and
    the straight line of random targeting, per customer (higher is better; 0 = random)."""
    order = np.argsort(-uplift, kind="stable")
    y, t = converted[order].astype(float), treated[order].astype(bool)
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    y_t, y_c = np.cumsum(y * t), np.cumsum(y * ~t)
    curve = y_t - y_c * np.divide(n_t, n_c, out=np.zeros(len(y)), where=n_c > 0)
    random = curve[-1] * np.arange(1, len(y) + 1) / len(y)
    return float(np.mean(curve - random) / max(len(y), 1) * len(y) / max(n_t[-1], 1))


def uplift_calibration(
    converted: np.ndarray, treated: np.ndarray, uplift: np.ndarray, bins: int = 10
) -> pd.DataFrame:
    """Observed against predicted uplift by quantile bin of the prediction."""
    frame = pd.DataFrame({"y": converted.astype(float), "t": treated.astype(bool), "u": uplift})
    frame["bin"] = pd.qcut(frame["u"].rank(method="first"), q=bins, labels=False)
    rows = []
    for b, part in frame.groupby("bin"):
        t, c = part[part["t"]], part[~part["t"]]
        observed = (t["y"].mean() if len(t) else np.nan) - (c["y"].mean() if len(c) else np.nan)
        rows.append(
            {
                "bin": int(b),
                "predicted_uplift": part["u"].mean(),
                "observed_uplift": observed,
                "rows": len(part),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ResponseValidation:
    """How the response model did on the newest campaign, held out."""

    campaign_id: str
    contacts: int
    qini: float  # learned model, pooled toward the priors as it is used
    qini_prior: float  # the priors alone
    calibration_error: float  # mean |observed − predicted| uplift over the bins, weighted
    calibration: pd.DataFrame

    def metrics(self) -> dict[str, float]:
        return {
            "holdout_contacts": float(self.contacts),
            "qini": self.qini,
            "qini_prior_only": self.qini_prior,
            "qini_gain_over_prior": self.qini - self.qini_prior,
            "uplift_calibration_error": self.calibration_error,
        }


def held_out_uplift(
    model: ResponseModel, priors: Priors, contacts: pd.DataFrame, window_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted uplift of each held-out contact's own (offer, channel, step), learned
    and prior-only. Control rows have no channel: their uplift is the mean over the
    channels their offer was sent on."""
    contacts = contacts.reset_index(drop=True)
    learned = np.zeros(len(contacts))
    prior = np.zeros(len(contacts))
    channels = model.channels or ["email"]
    x_all = customer_input(model, contacts)  # once; every group reads its rows
    for step, step_rows in contacts.groupby("step").groups.items():
        step_index = np.asarray(step_rows)
        x_step = None if x_all is None else x_all.rows(step_index)
        base_step = baseline_response(
            model, contacts.iloc[step_index], int(step), window_days, x_step
        )
        at = pd.Series(np.arange(len(step_index)), index=step_index)
        part_all = contacts.iloc[step_index]
        for (offer, channel), index in part_all.groupby(
            ["offer_code", "channel"], dropna=False
        ).groups.items():
            local = at.loc[index].to_numpy()
            part = part_all.iloc[local]
            x = None if x_step is None else x_step.rows(local)
            base = base_step[local]
            use = channels if channel in (None, "none") or pd.isna(channel) else [str(channel)]
            got = [
                contact_response(
                    model,
                    priors,
                    part,
                    offer=str(offer),
                    channel=ch,
                    step=int(step),
                    baseline=base,
                    x=x,
                )
                for ch in use
            ]
            rows = step_index[local]
            learned[rows] = np.mean([g.uplift for g in got], axis=0)
            prior[rows] = np.mean(
                [priors.uplift(part, str(offer), ch, int(step)) for ch in use], axis=0
            )
    return learned, prior


def randomized_campaigns(history: pd.DataFrame) -> pd.Series:
    """The campaigns with a control group and treated contacts (what a held-out uplift
    check and off-policy evaluation need), their first contact date, oldest first."""
    control = history["is_control"].astype(bool)
    by_campaign = history.assign(control=control, treated=~control).groupby("campaign_id")
    flags = by_campaign[["control", "treated"]].any()
    firsts = by_campaign["contact_date"].min()
    keep = flags["control"] & flags["treated"]
    return firsts[keep].sort_values()


def split_newest_campaign(history: pd.DataFrame) -> tuple[str, pd.Timestamp, pd.Series] | None:
    """The newest randomized campaign (by first contact), its first contact date and a
    mask of its rows; None when there is nothing to hold out (no randomized campaign, or
    no contact before it to learn from)."""
    firsts = randomized_campaigns(history)
    if len(firsts) == 0:
        return None
    first_contact = pd.Timestamp(firsts.iloc[-1])
    if not (history["contact_date"] < first_contact).any():
        return None
    newest = str(firsts.index[-1])
    return newest, first_contact, history["campaign_id"] == newest


@dataclass(frozen=True)
class HeldOut:
    """The newest randomized campaign held out, and the model fitted on every contact
    before its first one (no look-ahead): shared by the nightly validation and the
    backtest, which hold out the same campaign."""

    campaign_id: str
    first_contact: pd.Timestamp
    mask: pd.Series
    model: ResponseModel


def hold_out_newest(
    history: pd.DataFrame,
    params: ResponseParams,
    priors: Priors | None = None,
    *,
    fitted: ResponseModel | None = None,
) -> HeldOut | None:
    """:class:`HeldOut` for ``history``; None when there is nothing to hold out. A
    campaign of more than ``params.max_holdout_customers`` customers is judged on a
    seeded sample of them (every contact of a sampled customer). ``fitted``: the model
    fitted before the campaign when the caller has it (a reused version keeps it, issue
    19); by default it is fitted here."""
    split = split_newest_campaign(history)
    if split is None:
        return None
    campaign_id, first_contact, mask = split
    customers = history.loc[mask, "customer_id"].unique()
    if len(customers) > params.max_holdout_customers:
        rng = np.random.default_rng(params.seed)
        kept = rng.choice(np.sort(customers), size=params.max_holdout_customers, replace=False)
        mask = mask & history["customer_id"].isin(kept)
    if fitted is None:
        before = (history["contact_date"] < first_contact).to_numpy()
        fitted = fit_response(history, params, priors, rows=before)
    return HeldOut(campaign_id, first_contact, mask, fitted)


def held_out_qini(
    model: ResponseModel, priors: Priors, test: pd.DataFrame, window_days: float
) -> float:
    """The Qini coefficient of ``model`` (pooled toward the priors as it is used) on the
    contacts of ``test``."""
    learned, _ = held_out_uplift(model, priors, test.reset_index(drop=True), window_days)
    y = test["is_converted"].astype(int).to_numpy()
    t = ~test["is_control"].astype(bool).to_numpy()
    return qini_coefficient(y, t, learned)


def validate_on_latest_campaign(
    history: pd.DataFrame,
    priors: Priors,
    params: ResponseParams,
    held_out: HeldOut | None = None,
) -> ResponseValidation | None:
    """Fit on every contact before the newest randomized campaign, score that campaign.
    None when there is nothing to hold out. ``held_out``: :func:`hold_out_newest` of the
    same history, when the caller has it."""
    held_out = held_out or hold_out_newest(history, params, priors)
    if held_out is None:
        return None
    test = history[held_out.mask].reset_index(drop=True)
    learned, prior = held_out_uplift(held_out.model, priors, test, params.window_days)
    y = test["is_converted"].astype(int).to_numpy()
    t = ~test["is_control"].astype(bool).to_numpy()
    calibration = uplift_calibration(y, t, learned)
    valid = calibration.dropna(subset=["observed_uplift"])
    error = (
        float(
            np.average(
                np.abs(valid["observed_uplift"] - valid["predicted_uplift"]), weights=valid["rows"]
            )
        )
        if len(valid)
        else float("nan")
    )
    return ResponseValidation(
        campaign_id=held_out.campaign_id,
        contacts=len(test),
        qini=qini_coefficient(y, t, learned),
        qini_prior=qini_coefficient(y, t, prior),
        calibration_error=error,
        calibration=calibration,
    )
