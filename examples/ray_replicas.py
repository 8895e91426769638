"""One learner, several serving replicas, on Ray actors.

A contextual policy (LinUCB) is served by ``n_replicas`` replica actors. Each replica
decides on its own traffic with its local copy of the policy, sends the feedback
(contexts, arms, rewards) to a single learner actor, and every ``sync_every`` rounds
replaces its copy with the learner's fresh state. Model state crosses processes only as
``to_bytes()`` / ``from_bytes()``.

    pip install 'regretless[ray]'
    python examples/ray_replicas.py
"""

from __future__ import annotations

import numpy as np
import ray
import regretless

N_ARMS, DIM = 4, 5


def make_theta(seed: int = 0) -> np.ndarray:
    """The true per-arm coefficients of the simulated traffic."""
    return np.random.default_rng(seed).normal(size=(N_ARMS, DIM))


@ray.remote(num_cpus=0)
class Learner:
    """Holds the one policy that learns from everybody's feedback."""

    def __init__(self) -> None:
        self.policy = regretless.LinUCB(N_ARMS, DIM, alpha=0.5)

    def update(self, X: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> None:
        self.policy.update_batch(X, arms, rewards)

    def state(self) -> bytes:
        return self.policy.to_bytes()

    def n_updates(self) -> int:
        return self.policy.n_updates


@ray.remote(num_cpus=0)
class Replica:
    """Serves decisions from a local copy; refreshes it from the learner periodically."""

    def __init__(self, learner, state: bytes, seed: int, sync_every: int) -> None:
        self.learner = learner
        self.policy = regretless.LinUCB.from_bytes(state)
        self.rng = np.random.default_rng(seed)
        self.theta = make_theta()
        self.sync_every = sync_every
        self.rounds = 0
        self.syncs = 0

    def serve(self, batch: int) -> float:
        """One round of traffic; returns its mean reward."""
        X = self.rng.normal(size=(batch, DIM))
        arms = self.policy.select_batch(X)
        rewards = np.einsum("nd,nd->n", X, self.theta[arms]) + self.rng.normal(0, 0.1, batch)
        # Fire and forget: calls from one caller to one actor run in order, so the
        # learner has this feedback before it answers the state request below.
        self.learner.update.remote(X, arms, rewards)
        self.rounds += 1
        if self.rounds % self.sync_every == 0:
            self.policy = regretless.LinUCB.from_bytes(ray.get(self.learner.state.remote()))
            self.syncs += 1
        return float(rewards.mean())

    def syncs_done(self) -> int:
        return self.syncs

    def flush(self) -> None:
        """Returns once the learner has applied every update this replica sent."""
        ray.get(self.learner.n_updates.remote())


def main(n_replicas: int = 3, rounds: int = 20, batch: int = 200, sync_every: int = 5) -> dict:
    if not ray.is_initialized():
        ray.init()
    learner = Learner.remote()
    initial = ray.get(learner.state.remote())
    replicas = [Replica.remote(learner, initial, seed, sync_every) for seed in range(n_replicas)]
    means = []
    for _ in range(rounds):
        means.append(np.mean(ray.get([r.serve.remote(batch) for r in replicas])))
    syncs = sum(ray.get([r.syncs_done.remote() for r in replicas]))
    # Updates are sent by the replicas, so only a round-trip from each replica to the
    # learner guarantees that the learner has applied all of them.
    ray.get([r.flush.remote() for r in replicas])
    n_updates = ray.get(learner.n_updates.remote())
    theta = make_theta()
    X = np.random.default_rng(123).normal(size=(10_000, DIM))
    stats = {
        "learner_updates": n_updates,
        "syncs": syncs,
        "first_reward": float(means[0]),
        "late_reward": float(np.mean(means[-max(1, rounds // 4) :])),
        "uniform_reward": float((X @ theta.T).mean()),
        "best_reward": float((X @ theta.T).max(axis=1).mean()),
    }
    for actor in [*replicas, learner]:
        ray.kill(actor)
    return stats


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:>16}: {value:.3f}" if isinstance(value, float) else f"{key:>16}: {value}")
