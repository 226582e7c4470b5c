"""One generator per report section: ``build(data: ReportData) -> Section``, in report order."""

from convdiv.report.sections import (
    ce_fit, convergence, frequency, overview, pos, reference, regression, tokens, word,
)

SECTIONS = (overview, convergence, reference, pos, frequency, word, ce_fit, regression, tokens)
