"""Demo-shop simulator: a merchant's data directory with known ground truth.

``generate_shop(ShopSpec(...), out_dir)`` writes one file per input-contract table plus a
``truth/`` folder that the pipeline never reads (the latent state, the true churn
probability and realised label, the planted exclusion types, offer responses, and the
shop's response model: ``world.json`` and ``response_truth.parquet``). ``ShopSpec.world``
picks the response model (``winback.demo.world``; 0 is the documented default);
``winback.demo.evaluate`` values win-back plans with it.
"""

from winback.demo.generate import generate_shop
from winback.demo.spec import ShopSpec

__all__ = ["ShopSpec", "generate_shop"]
