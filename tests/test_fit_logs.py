"""policy.fit_logs: one pass over logs equals the direct batch update it stands for."""

from __future__ import annotations

import numpy as np
import pytest
import regretless as rl


def logged(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    pscore = rng.uniform(0.1, 1.0, n)
    action = rng.integers(0, 3, n)
    reward = (rng.random(n) < 0.3 + 0.1 * action).astype(float)
    return {"action": action, "reward": reward, "pscore": pscore, "context": X}


@pytest.mark.parametrize("cls", [rl.LinUCB, rl.LogisticTS, rl.KLRegularizedUCB])
def test_ips_fit_equals_weighted_batch_update_and_streams_parquet(cls, tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    data = logged()
    fitted = cls(3, 3, seed=0).fit_logs(data, context=True, max_weight=5.0)
    direct = cls(3, 3, seed=0)
    direct.update_batch(
        data["context"], data["action"], data["reward"], np.minimum(1 / data["pscore"], 5.0)
    )
    np.testing.assert_allclose(fitted.coefficients(), direct.coefficients(), rtol=1e-9, atol=1e-12)
    # The same log as Parquet, read in small record batches: same fit (ridge models exactly
    # up to rounding; the online logistic posterior is sequential, so also equal).
    table = pa.table(
        {
            "action": data["action"],
            "reward": data["reward"],
            "pscore": data["pscore"],
            "context": pa.FixedSizeListArray.from_arrays(pa.array(data["context"].ravel()), 3),
        }
    )
    path = tmp_path / "log.parquet"
    pq.write_table(table, path, row_group_size=300)
    streamed = cls(3, 3, seed=0).fit_logs(
        str(path), context="context", batch_size=256, max_weight=5.0
    )
    np.testing.assert_allclose(
        streamed.coefficients(), direct.coefficients(), rtol=1e-9, atol=1e-12
    )
    assert streamed.n_updates == 2000


def test_multi_armed_policies_learn_unweighted_pairs() -> None:
    data = logged()
    p = rl.ThompsonSampling(3).fit_logs(data, weighting="none")
    np.testing.assert_array_equal(p.counts(), np.bincount(data["action"], minlength=3))
    with pytest.raises(rl.InvalidParameterError, match="weighting"):
        rl.UCB1(3).fit_logs(data)
    with pytest.raises(rl.InvalidParameterError, match="weighting"):
        rl.LinUCB(3, 3).fit_logs(data, weighting="snips", context=True)
    no_pscore = {k: v for k, v in data.items() if k != "pscore"}
    with pytest.raises(rl.InvalidParameterError, match="pscore"):
        rl.LinUCB(3, 3).fit_logs(no_pscore, context=True)
