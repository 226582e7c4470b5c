"""One generator per report section: ``build(data: ReportData) -> Section``, in report order.

Each module's KEY is the section's stable ``id`` in the HTML (links and tests rely on it).
"""

from convdiv.report.sections import (
    ce_fit,
    ce_fit_context,
    convergence,
    divergence_stability,
    frequency,
    learnability,
    overview,
    pos,
    reference,
    regression,
    relative_divergence_context,
    tokens,
    word,
    word_ce,
)

SECTIONS = (
    overview,
    convergence,
    learnability,
    reference,
    pos,
    relative_divergence_context,
    frequency,
    word,
    word_ce,
    divergence_stability,
    ce_fit,
    ce_fit_context,
    regression,
    tokens,
)
