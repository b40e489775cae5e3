"""Where, then what: the region stage (:mod:`.stage`) finds the small parts of one set's images that the other
set's never hold and names them by what they look like (:mod:`.describe`)."""

from .describe import Region, RegionSummary, statement
from .stage import RegionDetector, RegionEvidence, region_stage

__all__ = ["Region", "RegionDetector", "RegionEvidence", "RegionSummary", "region_stage", "statement"]
