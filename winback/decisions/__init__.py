"""Win-back decisions (issue 6): settings, the dbt vars they become, the campaign summary
(markdown and a self-contained HTML report) and the stable control-group draw.

The decisions themselves are set-based SQL in ``dbt_project/models/decisions``; this
package only parameterises them and reports on what they published.
"""

from winback.decisions.control import control_draw
from winback.decisions.settings import DecisionSettings

__all__ = ["DecisionSettings", "control_draw"]
