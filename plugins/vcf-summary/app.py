"""The component's entry module (componentize-py ... componentize app)."""

import vcf_summary  # noqa: F401  (registers the @stage)
from petri_stage.component import Stage  # noqa: F401  (the export)
