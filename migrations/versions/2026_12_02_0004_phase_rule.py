"""one phase rule, per-pair sigma

Why: the report printed two phase rules side by side (a Python one and the view's) that disagreed, and the view
reported a convergence minimum on curves that never dip (demo-quick: convergence_min_step = uniform_end_step).
phase_boundaries is now the one rule: a convergence minimum exists only where E[KL] dips below its value at the
end of the uniform phase, and the view adds first_step / last_step (the spans' outer ends) and the presentation's
boundaries sharp_rise_start_step / sharp_rise_end_step (setting convdiv.sharp_rise_fraction).
relative_divergence adds sigma_per_pair / is_outlier_per_pair, the per-comparison version of sigma (a difference
from the study made selectable; docs/sql.md). Only these two views are replaced: nothing depends on them, and no
aggregate is rebuilt.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:30:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views as sqlfiles

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Views nothing depends on (sqlfiles.replace would also drop and rebuild every later-numbered aggregate).
CHANGED = ("relative_divergence", "phase_boundaries")


def upgrade() -> None:
    connection = op.get_bind()
    # A view cannot gain columns in the middle in place; these have no dependants, so drop and create.
    for name in CHANGED:
        sqlfiles.drop(connection, name)
        sqlfiles.create(connection, name, as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    for name in CHANGED:
        sqlfiles.drop(connection, name)
        sqlfiles.create(connection, name, as_of=down_revision)
