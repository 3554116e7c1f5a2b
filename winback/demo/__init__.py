"""Demo-shop simulator: a merchant's data directory with known ground truth.

``generate_shop(ShopSpec(...), out_dir)`` writes one file per input-contract table plus a
``truth/`` folder that the pipeline never reads (the latent state, the true churn
probability and realised label, the planted exclusion types, offer responses).
"""

from winback.demo.generate import generate_shop
from winback.demo.spec import ShopSpec

__all__ = ["ShopSpec", "generate_shop"]
