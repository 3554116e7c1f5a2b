"""The control-group draw (R10), the same number the SQL computes."""

from __future__ import annotations

import hashlib


def control_draw(customer_id: str, campaign_id: str) -> float:
    """A stable pseudo-random number in [0, 1) per customer and campaign: the first 32
    bits of md5("<customer_id>:<campaign_id>"). A customer is in the control group when
    it is below the control share (``int_winback_candidates_decided``)."""
    digest = hashlib.md5(f"{customer_id}:{campaign_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32
