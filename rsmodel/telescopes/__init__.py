"""Telescope network (seed 001): visibility, planners, handover simulation, reliability, stacking.

Importing the package registers the model-file check of the telescope sections.
"""

from rsmodel.model.loader import SECTION_CHECKS
from rsmodel.telescopes.network import check_telescope_sections

if check_telescope_sections not in SECTION_CHECKS:
    SECTION_CHECKS.append(check_telescope_sections)
