"""One name per concept (CONTRIBUTING.md, "Names"): every stateful learner of every family
counts the feedback it has learned as ``n_updates``, the OPE accumulator counts its rows as
``n_rounds`` (obp's name, as ``EstimateResult``), and the older names stay as aliases equal to
the canonical one.

The count is checked against the number of feedback calls the conformance driver made (one
per decision it fed back), so a learner that skipped or double-counted a record fails.
"""

from __future__ import annotations

import pytest
from conformance_families import CASES, Family, case_id

# Older names kept for compatibility, per family label: each must equal the canonical count.
ALIASES: dict[str, tuple[str, ...]] = {
    "kernel": ("t",),
    "stream": ("n_pulls",),
    "bwk": ("n_pulls",),
    "cascade": ("n_rounds",),
}
ACCUMULATORS = {"ope", "ope-ranked"}
# Families whose driver may decline to act (a None decision gets no feedback).
MAY_SKIP = {"bwk", "hatch"}
# The streaming driver feeds a variable number of pulls per arriving arm.
PULLS_NOT_DECISIONS = {"stream"}
# PeriodicUCB hands out a set of pulls per decision (a period).
PULLS_NOT_DECISIONS.add("reactive")

STEPS = 30


def _params(predicate) -> list:
    return [pytest.param(f, n, id=case_id((f, n))) for f, n in CASES if predicate(f)]


@pytest.mark.parametrize("family, name", _params(lambda f: f.label not in ACCUMULATORS))
def test_every_learner_counts_its_feedback_as_n_updates(family: Family, name: str) -> None:
    p = family.make(name, seed=3)
    assert p.n_updates == 0
    for alias in ALIASES.get(family.label, ()):
        assert getattr(p, alias) == 0
    decisions = family.play(p, STEPS)
    if family.label in PULLS_NOT_DECISIONS:
        expected = family.n_learned(p)
    else:
        expected = sum(d is not None for d in decisions)
    assert p.n_updates == expected > 0
    # The family's own count (an alias, or counts summed where there is no alias) agrees.
    assert family.n_learned(p) == p.n_updates
    for alias in ALIASES.get(family.label, ()):
        assert getattr(p, alias) == p.n_updates
    # Restored state keeps the count.
    assert type(p).from_bytes(p.to_bytes()).n_updates == p.n_updates


@pytest.mark.parametrize("family, name", _params(lambda f: f.label in ACCUMULATORS))
def test_the_ope_accumulator_counts_its_rows_as_n_rounds(family: Family, name: str) -> None:
    acc = family.make(name, seed=3)
    assert acc.n_rounds == acc.rows == 0
    family.play(acc, STEPS)
    result = acc.result(0.1)
    assert acc.n_rounds == acc.rows == result.n_rounds > 0
    assert result.n_rounds % STEPS == 0  # STEPS logged rows (one per slot for rankings)
