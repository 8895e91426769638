"""Action-dependent (reactive) rewards: an arm's mean reward depends on the policy's own past
plays, so the best policy is a schedule rather than an arm.

Three settings, each with its environment and its policy (all in the Rust core):

- recovering rewards, the mean grows with the time since the arm's last pull:
  :class:`RecoveringEnv` and :class:`PeriodicUCB` (Simchi-Levi, Zheng and Zhu 2021);
- last-switch-dependent payoffs, satiating while an arm is played on and recovering while it
  rests: :class:`LSDEnv` and :class:`LSDExploreCommit` (Foussoul et al. 2023);
- weighted tallying, the mean depends on a weighted count of the arm's recent plays:
  :class:`TallyingEnv` and :class:`TallyingElimination` (Malik et al. 2023).

:func:`simulate_reactive` plays a policy (or any multi-armed policy, as a baseline) against one
of the environments and reports its regret against the exact optimal schedule (dynamic
programming over the environment's finite state) and against the setting's reference policy.
These policies are outside ``regretless.POLICIES``: their decisions depend on the order of
their own plays, so merging and logged feedback do not apply to them. ``select(eligible=...)``
(a boolean mask or arm indices) restricts a decision to some arms: :class:`LSDExploreCommit`
and :class:`TallyingElimination` play the schedule's arm when it is eligible and otherwise the
best eligible arm by ``scores()``; :class:`PeriodicUCB` pulls the most overdue eligible due
arms (an arm left out stays due).
"""

from __future__ import annotations

from regretless._core import (
    LSDEnv,
    LSDExploreCommit,
    PeriodicUCB,
    RecoveringEnv,
    TallyingElimination,
    TallyingEnv,
    simulate_reactive,
)

__all__ = [
    "LSDEnv",
    "LSDExploreCommit",
    "PeriodicUCB",
    "RecoveringEnv",
    "TallyingElimination",
    "TallyingEnv",
    "simulate_reactive",
]
