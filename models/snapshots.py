"""Which snapshot of the feature mart plays which role in a run, and how many of its rows
are read: the one definition of the split and of the training sample.

Roles (never a random split): validation is the newest labelled snapshot, calibration
the one before, training every older labelled one; the scoring snapshot is scored;
other unlabelled snapshots are not read. ``warehouse.read_features`` executes a plan in
SQL and ``training.split_by_snapshot`` slices the frame by it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd


class NotEnoughHistoryError(ValueError):
    """The data is too short for the labelled snapshots the model needs."""


@dataclass(frozen=True)
class SnapshotSummary:
    """One snapshot of the feature mart: its date, rows and whether it is labelled or the
    scoring snapshot (``warehouse.snapshot_summaries`` reads them with one query)."""

    as_of_date: dt.date
    rows: int
    labelled: bool
    scoring: bool


@dataclass(frozen=True)
class SnapshotPlan:
    """Which snapshot plays which role in a run, and how many rows of each are read: the
    one definition of the split and of the training sample (``plan_snapshots``). The
    warehouse read executes it (``warehouse.read_features``) and ``split_by_snapshot``
    slices the frame by it.

    Roles (never a random split): validation is the newest labelled snapshot,
    calibration the one before, training every older labelled one; the scoring snapshot
    is scored; other unlabelled snapshots are not read.
    """

    scoring_date: dt.date | None
    valid_date: dt.date | None
    calibration_date: dt.date | None
    train_dates: tuple[dt.date, ...]
    # Rows to read per training snapshot: all of them, or the same seeded share of each
    # when the training snapshots hold more than ``max_train_rows``.
    train_quotas: dict[dt.date, int]
    # Rows of every snapshot in the mart.
    snapshot_rows: dict[dt.date, int]

    @property
    def rows_in_mart(self) -> int:
        return sum(self.snapshot_rows.values())

    @property
    def train_rows_available(self) -> int:
        return sum(self.snapshot_rows[d] for d in self.train_dates)

    @property
    def read_dates(self) -> list[dt.date]:
        """Every snapshot the run reads, oldest first."""
        roles = {*self.train_dates, self.calibration_date, self.valid_date, self.scoring_date}
        return sorted(d for d in roles if d is not None)

    @property
    def train_rows(self) -> int:
        return sum(self.train_quotas.values())

    @property
    def train_share(self) -> float:
        return self.train_rows / self.train_rows_available if self.train_rows_available else 1.0

    def quota(self, as_of_date: dt.date) -> int | None:
        """Rows to read of a sampled training snapshot; None when it is read whole."""
        wanted = self.train_quotas.get(as_of_date)
        return None if wanted is None or wanted >= self.snapshot_rows[as_of_date] else wanted

    @property
    def rows_read(self) -> int:
        return sum(self.train_quotas.get(d, self.snapshot_rows[d]) for d in self.read_dates)

    def require_roles(self) -> tuple[dt.date, dt.date]:
        """(calibration date, validation date); raises when the history is too short."""
        if self.calibration_date is None or self.valid_date is None or not self.train_dates:
            labelled = len(self.train_dates) + (self.calibration_date is not None)
            labelled += self.valid_date is not None
            raise NotEnoughHistoryError(
                f"need at least 3 labelled snapshots (train, calibrate, validate), found "
                f"{labelled}: the data must span the churn horizon plus three snapshot "
                "intervals. Shorten --horizon-days or WINBACK_FEATURES__SNAPSHOT_CADENCE_DAYS, "
                "or bring a longer order history."
            )
        return self.calibration_date, self.valid_date

    def summary(self) -> str:
        return (
            f"read {self.rows_read:,} of {self.rows_in_mart:,} feature rows: the scoring, calibration "
            f"and validation snapshots whole, {self.train_share:.1%} of "
            f"{self.train_rows_available:,} training rows (sampled in SQL, seeded)"
        )


def plan_snapshots(snapshots: list[SnapshotSummary], max_train_rows: int) -> SnapshotPlan:
    """The roles and read quotas of a run's snapshots (see :class:`SnapshotPlan`).

    Training snapshots holding more than ``max_train_rows`` rows in all are each sampled
    to the same share, ``round(rows * share)`` rows apiece, so old and recent snapshots
    keep their weight.
    """
    ordered = sorted(snapshots, key=lambda s: s.as_of_date)
    labelled = [s for s in ordered if s.labelled and not s.scoring]
    scoring = next((s.as_of_date for s in ordered if s.scoring), None)
    held_out = [s.as_of_date for s in labelled[-2:]] if len(labelled) >= 3 else []
    train = labelled[:-2] if len(labelled) >= 3 else []
    available = sum(s.rows for s in train)
    share = 1.0 if available <= max_train_rows else max_train_rows / available
    return SnapshotPlan(
        scoring_date=scoring,
        valid_date=held_out[1] if held_out else None,
        calibration_date=held_out[0] if held_out else None,
        train_dates=tuple(s.as_of_date for s in train),
        train_quotas={s.as_of_date: round(s.rows * share) for s in train},
        snapshot_rows={s.as_of_date: s.rows for s in ordered},
    )


def summarise_snapshots(features: pd.DataFrame) -> list[SnapshotSummary]:
    """The snapshot summaries of a feature frame already in memory."""
    grouped = features.groupby("as_of_date", observed=True, sort=True).agg(
        rows=("customer_id", "size"),
        labelled=("is_label_observed", "any"),
        scoring=("is_scoring_snapshot", "any"),
    )
    return [
        SnapshotSummary(as_date(d), int(r.rows), bool(r.labelled), bool(r.scoring))
        for d, r in grouped.iterrows()
    ]


def as_date(value: object) -> dt.date:
    return pd.Timestamp(value).date()
