"""regretless.experiment: grids validated before they run, results equal to direct
simulate calls, resume after an interruption, sharded learning equal to learning in one
place, the same numbers on the local and Ray backends, and the run/report CLI."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import regretless
from regretless import cli, experiment
from regretless.experiment import EnvSpec, Grid, PolicySpec

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ENVS = [
    EnvSpec("bern", "bernoulli", means=[0.2, 0.5, 0.7]),
    EnvSpec("table", "table", rewards=(np.random.default_rng(9).random((300, 2)) < [0.4, 0.6])),
]


def small_grid(**kw) -> Grid:
    args = {
        "policies": [
            *PolicySpec.sweep("UCB1", alpha=[0.5, 2.0]),
            "ThompsonSampling",
            PolicySpec("EXP3", {"horizon": 300}),
        ],
        "envs": ENVS,
        "seeds": [0, 7],
        "horizon": 300,
        "runs": 3,
        "record_every": 50,
    }
    args.update(kw)
    return Grid(**args)


# -- validation --------------------------------------------------------------------------


def test_unknown_policy_fails_before_running_and_names_the_cell() -> None:
    with pytest.raises(regretless.InvalidParameterError, match=r"cell UCB9 x env 'bern'.*UCB9"):
        Grid(["UCB1", "UCB9"], ENVS, seeds=[0], horizon=10)


def test_invalid_hyperparameter_names_the_cell() -> None:
    with pytest.raises(
        regretless.InvalidParameterError, match=r"cell UCB1\(alpha=-1.0\) x env 'bern'.*alpha"
    ):
        Grid([PolicySpec("UCB1", {"alpha": -1.0})], ENVS, seeds=[0], horizon=10)
    with pytest.raises(regretless.InvalidParameterError, match=r"cell MOSS\(horizn=10\).*horizn"):
        Grid([PolicySpec("MOSS", {"horizn": 10})], ENVS, seeds=[0], horizon=10)
    with pytest.raises(regretless.InvalidParameterError, match="set by the grid"):
        Grid([PolicySpec("UCB1", {"seed": 3})], ENVS, seeds=[0], horizon=10)


def test_bad_environments_and_grid_values_are_rejected() -> None:
    with pytest.raises(regretless.InvalidParameterError, match="env 'bad'"):
        Grid(["UCB1"], [EnvSpec("bad", means=[0.5, 1.5])], seeds=[0], horizon=10)
    with pytest.raises(regretless.InvalidParameterError, match="fewer than the horizon"):
        Grid(["UCB1"], [EnvSpec("t", "table", rewards=np.zeros((5, 2)))], seeds=[0], horizon=10)
    gauss = EnvSpec("gauss", "gaussian", means=[0.0, 0.3], sd=0.5)
    with pytest.raises(regretless.IncompatibleError, match=r"cell UCB1 x env 'gauss'.*\[0, 1\]"):
        Grid(["GaussianThompsonSampling", "UCB1"], [gauss], seeds=[0], horizon=10)
    with pytest.raises(regretless.InvalidParameterError, match="seeds"):
        Grid(["UCB1"], ENVS, seeds=[-1], horizon=10)
    with pytest.raises(regretless.InvalidParameterError, match="distinct"):
        Grid(["UCB1"], [ENVS[0], ENVS[0]], seeds=[0], horizon=10)


def test_bad_grid_in_toml_fails_before_anything_runs(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'horizon = 100\nseeds = 2\n[[policy]]\nname = "UCB1"\nsweep = { alpha = [1.0, -2.0] }\n'
        '[[env]]\nname = "e"\nmeans = [0.1, 0.9]\n'
    )
    with pytest.raises(regretless.InvalidParameterError, match=r"UCB1\(alpha=-2.0\) x env 'e'"):
        experiment.load_grid(path)
    assert cli.main(["run", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert not (tmp_path / "o").exists()


# -- results -----------------------------------------------------------------------------


def test_local_results_equal_direct_simulate_calls() -> None:
    grid = small_grid()
    table = experiment.run(grid)
    assert table.num_rows == len(grid.cells) * 3 * 6
    assert table.schema.names == [
        "cell_id",
        "policy",
        "params",
        "env",
        "seed",
        "run",
        "step",
        "regret",
        "reward",
        "wall_seconds",
    ]
    for cell in grid.cells:
        rows = table.filter(pa.compute.equal(table.column("cell_id"), cell.cell_id))
        env = cell.env.build()
        cls = getattr(regretless, cell.policy.name)
        res = regretless.simulate(
            cls(env.n_arms, **cell.policy.params), env, 300, 3, cell.seed, record_every=50
        )
        np.testing.assert_array_equal(rows.column("regret").to_numpy().reshape(3, -1), res.regret)
        assert rows.column("step").to_numpy()[:6].tolist() == res.steps.tolist()
        reward = rows.column("reward").to_numpy(zero_copy_only=False).reshape(3, -1)
        np.testing.assert_array_equal(reward[:, -1], res.total_reward)
        assert np.isnan(reward[:, :-1]).all()
        assert rows.column("params").to_pylist()[0] == cell.policy.params_json()


def test_summary_matches_numpy() -> None:
    table = experiment.run(small_grid(seeds=[1, 2]))
    s = experiment.summarize(table)
    final = experiment.final_summary(table)
    assert final.num_rows == 4 * 2
    row = [r for r in final.to_pylist() if r["policy"] == "UCB1(alpha=0.5)" and r["env"] == "bern"]
    sel = table.filter(
        pa.compute.and_(
            pa.compute.equal(table.column("policy"), "UCB1(alpha=0.5)"),
            pa.compute.and_(
                pa.compute.equal(table.column("env"), "bern"),
                pa.compute.equal(table.column("step"), 300),
            ),
        )
    )
    values = sel.column("regret").to_numpy()
    assert row[0]["n"] == 6
    assert row[0]["mean"] == pytest.approx(values.mean())
    assert row[0]["se"] == pytest.approx(values.std(ddof=1) / np.sqrt(6))
    assert s.num_rows == 4 * 2 * 6
    text = experiment.format_summary(table)
    assert "UCB1(alpha=0.5)" in text and "table" in text


def test_results_are_written_per_cell_and_combined(tmp_path: pathlib.Path) -> None:
    grid = small_grid()
    table = experiment.run(grid, tmp_path)
    files = sorted(p.stem for p in (tmp_path / "cells").glob("*.parquet"))
    assert files == sorted(c.cell_id for c in grid.cells)
    assert pq.read_table(tmp_path / "results.parquet").equals(table)
    assert experiment.read_results(tmp_path).equals(table)


def test_resume_reruns_only_unfinished_cells(tmp_path: pathlib.Path) -> None:
    grid = small_grid()
    seen: list[str] = []

    def interrupt(cell: experiment.Cell, table) -> None:
        seen.append(cell.cell_id)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        experiment.run(grid, tmp_path, workers=2, on_cell=interrupt)
    written = {p.stem for p in (tmp_path / "cells").glob("*.parquet")}
    # Every cell reported finished was written; besides them, only cells that were already
    # running or done when the interrupt came were kept (how many depends on timing, so the
    # test does not count them; the deleted file below makes the re-run do real work).
    assert set(seen) <= written
    assert not (tmp_path / "results.parquet").exists()
    # Another cell's file lost (as if its write had never happened): it runs again too.
    lost = sorted(written)[0]
    (tmp_path / "cells" / f"{lost}.parquet").unlink()
    written.discard(lost)

    rerun: list[str] = []
    table = experiment.run(grid, tmp_path, on_cell=lambda c, t: rerun.append(c.cell_id))
    assert sorted(rerun) == sorted({c.cell_id for c in grid.cells} - written)
    fresh = experiment.run(grid)
    np.testing.assert_array_equal(table.column("regret"), fresh.column("regret"))
    assert table.column("cell_id").to_pylist() == fresh.column("cell_id").to_pylist()
    # A third run has nothing left to do.
    again: list[str] = []
    experiment.run(grid, tmp_path, on_cell=lambda c, t: again.append(c.cell_id))
    assert again == []


@pytest.mark.parametrize("damage", ["empty", "torn", "foreign"])
def test_damaged_cell_files_are_detected_and_redone_on_resume(
    tmp_path: pathlib.Path, damage: str
) -> None:
    grid = small_grid(seeds=[0])
    first = experiment.run(grid, tmp_path)
    cells = tmp_path / "cells"
    victim = grid.cells[2].cell_id
    path = cells / f"{victim}.parquet"
    if damage == "empty":  # a crash between create and write
        path.write_bytes(b"")
    elif damage == "torn":  # a crash mid-write: the Parquet footer is missing
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # another cell's valid file under this cell's name
        path.write_bytes((cells / f"{grid.cells[0].cell_id}.parquet").read_bytes())
    (tmp_path / "results.parquet").unlink()
    rerun: list[str] = []
    with pytest.warns(RuntimeWarning, match=rf"{victim}.parquet: .*running cell"):
        table = experiment.run(grid, tmp_path, on_cell=lambda c, t: rerun.append(c.cell_id))
    assert rerun == [victim]
    assert table.equals(first.set_column(9, "wall_seconds", table.column("wall_seconds")))
    assert pq.read_table(path).column("cell_id").unique().to_pylist() == [victim]
    # And the repaired directory resumes with nothing to do and no warning.
    again: list[str] = []
    experiment.run(grid, tmp_path, on_cell=lambda c, t: again.append(c.cell_id))
    assert again == []


def test_temporary_files_of_killed_runs_are_removed(tmp_path: pathlib.Path) -> None:
    import os
    import subprocess
    import sys

    grid = small_grid(seeds=[0])
    experiment.run(grid, tmp_path)
    # A pid that is certainly gone: a child that has exited and been reaped.
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(child.stdout)
    cells = tmp_path / "cells"
    stale = [
        cells / f".{grid.cells[0].cell_id}.parquet.{dead}.tmp",
        tmp_path / f".results.parquet.{dead}.tmp",
    ]
    live = cells / f".{grid.cells[1].cell_id}.parquet.{os.getppid()}.tmp"  # a live process
    for f in (*stale, live):
        f.write_bytes(b"partial")
    experiment.run(grid, tmp_path)
    assert not any(f.exists() for f in stale)
    assert live.exists()  # another run that is still writing keeps its file


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regretless.experiment import runner

    grid = small_grid(seeds=[0])
    real_write = pq.write_table
    calls = {"n": 0}
    failed: list[str] = []

    def failing_write(table, where, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            failed.append(table.column("cell_id")[0].as_py())
            real_write(table.slice(0, 1), where, **kw)  # part of a file, then the failure
            raise OSError("disk full")
        return real_write(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        experiment.run(grid, tmp_path, workers=1)
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    # The failed cell has no file; the cells kept (the two before it, and those finished
    # when it failed) are complete.
    kept = sorted((tmp_path / "cells").glob("*.parquet"))
    assert 2 <= len(kept) < len(grid.cells)
    assert f"{failed[0]}.parquet" not in {f.name for f in kept}
    for f in kept:
        assert pq.read_table(f).num_rows == 3 * 6
    monkeypatch.setattr(pq, "write_table", real_write)
    assert experiment.run(grid, tmp_path).num_rows == len(grid.cells) * 3 * 6
    assert runner.RESULTS_FILE == "results.parquet"


def test_cell_and_results_files_are_fsynced_with_their_directory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import stat

    synced: list[str] = []
    real_fsync = os.fsync

    def record(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("dir" if stat.S_ISDIR(mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    grid = small_grid(seeds=[0])
    experiment.run(grid, tmp_path, workers=1)
    # Each of the 8 cell files and the results file: the file, then its directory
    # (after the rename).
    assert synced == ["file", "dir"] * (len(grid.cells) + 1)


def test_toml_grid_matches_the_python_grid(tmp_path: pathlib.Path) -> None:
    np.save(tmp_path / "table.npy", np.tile([[0.0, 1.0], [1.0, 0.0]], (100, 1)))
    path = tmp_path / "exp.toml"
    path.write_text(
        """
horizon = 200
runs = 2
seeds = [3, 4]
record_every = 100

[[policy]]
name = "UCB1"
sweep = { alpha = [0.5, 2.0] }

[[policy]]
name = "EXP3"
params = { horizon = 200 }

[[env]]
name = "bern"
means = [0.2, 0.5, 0.7]

[[env]]
name = "tab"
path = "table.npy"
"""
    )
    grid = experiment.load_grid(path)
    assert [p.label for p in grid.policies] == [
        "UCB1(alpha=0.5)",
        "UCB1(alpha=2.0)",
        "EXP3(horizon=200)",
    ]
    same = Grid(
        [*PolicySpec.sweep("UCB1", alpha=[0.5, 2.0]), PolicySpec("EXP3", {"horizon": 200})],
        [
            EnvSpec("bern", means=[0.2, 0.5, 0.7]),
            EnvSpec("tab", "table", rewards=np.tile([[0.0, 1.0], [1.0, 0.0]], (100, 1))),
        ],
        seeds=[3, 4],
        horizon=200,
        runs=2,
        record_every=100,
    )
    assert [c.cell_id for c in grid.cells] == [c.cell_id for c in same.cells]


def test_progress_bar_counts_cells(capsys: pytest.CaptureFixture[str]) -> None:
    experiment.run(small_grid(seeds=[0]), progress=True)
    assert "8/8" in capsys.readouterr().err


# -- CLI ---------------------------------------------------------------------------------


def test_cli_run_and_report(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(
        "horizon = 300\nruns = 2\nseeds = 2\nrecord_every = 30\n"
        '[[policy]]\nname = "UCB1"\n[[policy]]\nname = "ThompsonSampling"\n'
        '[[env]]\nname = "e"\nmeans = [0.1, 0.9]\n'
    )
    out = tmp_path / "res"
    assert cli.main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "ThompsonSampling" in text and "results.parquet" in text
    assert pq.read_table(out / "results.parquet").num_rows == 4 * 2 * 10
    args = ["report", str(out / "results.parquet")]
    try:
        import matplotlib  # noqa: F401

        args += ["--plot", str(tmp_path / "curves.png")]
    except ImportError:
        pass
    assert cli.main(args) == 0
    report = capsys.readouterr().out
    assert "UCB1" in report and "final regret" in report
    if "--plot" in args:
        assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["report", str(tmp_path / "missing.parquet")]) == 2


# -- sharded learning --------------------------------------------------------------------


def linear_logs(n: int = 3000, d: int = 4, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    arms = rng.integers(0, k, n)
    theta = rng.normal(size=(k, d))
    rewards = np.einsum("nd,nd->n", X, theta[arms]) + rng.normal(0, 0.1, n)
    weights = rng.uniform(0.5, 2.0, n)
    return X, arms, rewards, weights


def write_logs(tmp_path: pathlib.Path, X, arms, rewards, weights) -> pathlib.Path:
    table = pa.table(
        {
            "context": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1]),
            "action": arms,
            "reward": rewards,
            "w": weights,
            "p": 1 / (1 + np.exp(-rewards)),  # rewards in [0, 1] for the multi-armed policies
        }
    )
    d = tmp_path / "logs"
    d.mkdir()
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), d / "part-0.parquet", row_group_size=400)
    pq.write_table(table.slice(half), d / "part-1.parquet", row_group_size=400)
    return d


@pytest.mark.parametrize("n_shards", [1, 3, 8])
def test_sharded_linucb_equals_sequential_learning(tmp_path: pathlib.Path, n_shards: int) -> None:
    X, arms, rewards, weights = linear_logs()
    logs = write_logs(tmp_path, X, arms, rewards, weights)
    direct = regretless.LinUCB(3, 4, alpha=0.5)
    for i in range(len(arms)):  # the sequential, one-row-at-a-time reference
        direct.update(X[i], int(arms[i]), float(rewards[i]), float(weights[i]))
    fresh = regretless.LinUCB(3, 4, alpha=0.5)
    learned = experiment.learn_sharded(fresh, logs, n_shards=n_shards, workers=2, weight="w")
    assert fresh.n_updates == 0
    assert learned.n_updates == direct.n_updates
    np.testing.assert_allclose(learned.coefficients(), direct.coefficients(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(learned.scores(X[:50]), direct.scores(X[:50]), rtol=0, atol=1e-9)


def test_sharded_ucb1_equals_sequential_learning() -> None:
    rng = np.random.default_rng(2)
    arms = rng.integers(0, 5, 5000)
    rewards = rng.random(5000)
    table = pa.table({"action": arms, "reward": rewards})
    direct = regretless.UCB1(5)
    for a, r in zip(arms, rewards, strict=True):
        direct.update(int(a), float(r))
    learned = experiment.learn_sharded(regretless.UCB1(5), table, n_shards=7)
    assert learned.counts().tolist() == direct.counts().tolist()
    np.testing.assert_allclose(learned.means(), direct.means(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(learned.scores(), direct.scores(), rtol=0, atol=1e-9)


def test_sharded_learning_rejects_trained_or_unmergeable_policies() -> None:
    table = pa.table({"action": [0, 1], "reward": [1.0, 0.0]})
    trained = regretless.UCB1(2)
    trained.update(0, 1.0)
    with pytest.raises(regretless.InvalidParameterError, match="untrained"):
        experiment.learn_sharded(trained, table)
    X, arms, rewards, _ = linear_logs(50)
    with pytest.raises(regretless.IncompatibleError, match="mergeable"):
        experiment.learn_sharded(
            regretless.LogisticUCB(3, 4),
            pa.table({"context": list(X), "action": arms, "reward": rewards}),
        )


# -- Ray ---------------------------------------------------------------------------------

# Ray Data warns about its own deprecated settings when it starts; not ours to fix.
ray_internal = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray\..*")


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'regretless[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_local_and_ray_backends_agree_cell_by_cell(ray_session, tmp_path: pathlib.Path) -> None:
    grid = small_grid()
    local = experiment.run(grid)
    distributed = experiment.run(grid, tmp_path, backend="ray", cells_per_task=3)
    assert distributed.column("cell_id").to_pylist() == local.column("cell_id").to_pylist()
    for name in ("policy", "params", "env", "seed", "run", "step", "regret", "reward"):
        assert distributed.column(name).equals(local.column(name)), name
    assert len(list((tmp_path / "cells").glob("*.parquet"))) == len(grid.cells)


@ray_internal
def test_ray_sharded_learning_equals_sequential(ray_session, tmp_path: pathlib.Path) -> None:
    X, arms, rewards, weights = linear_logs(2000)
    logs = write_logs(tmp_path, X, arms, rewards, weights)
    direct = regretless.LinUCB(3, 4)
    direct.update_batch(X, arms, rewards, weights)
    learned = experiment.learn_sharded(
        regretless.LinUCB(3, 4), logs, backend="ray", n_shards=4, weight="w"
    )
    np.testing.assert_allclose(learned.coefficients(), direct.coefficients(), rtol=0, atol=1e-9)
    ucb = experiment.learn_sharded(
        regretless.UCB1(3), logs, backend="ray", n_shards=3, columns={"reward": "p"}
    )
    ref = regretless.UCB1(3)
    ref.update_batch(arms, 1 / (1 + np.exp(-rewards)))
    assert ucb.counts().tolist() == ref.counts().tolist()
    np.testing.assert_allclose(ucb.means(), ref.means(), rtol=0, atol=1e-9)


def test_ray_replicas_example(ray_session) -> None:
    import importlib.util

    path = pathlib.Path(__file__).parent.parent / "examples" / "ray_replicas.py"
    spec = importlib.util.spec_from_file_location("ray_replicas", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stats = module.main(n_replicas=2, rounds=6, batch=100, sync_every=2)
    assert stats["learner_updates"] == 2 * 6 * 100
    assert stats["syncs"] == 2 * 3
    # The learner learns: the replicas' last rounds beat uniform play.
    assert stats["late_reward"] > stats["uniform_reward"]


# -- one log schema: learn_sharded reads what regretless.logs reads -------------------------


def test_sharded_learning_equals_fit_logs_on_the_same_log(tmp_path: pathlib.Path) -> None:
    from regretless import logs as rlogs

    X, arms, rewards, _ = linear_logs(2000, k=3)
    pscore = np.random.default_rng(5).uniform(0.2, 1.0, len(arms))
    fb = rlogs.LoggedFeedback(action=arms, reward=rewards, pscore=pscore, context=X)
    path = tmp_path / "log.parquet"
    fb.to_parquet(path, row_group_size=250)
    for weighting in ("none", "ips"):
        fitted = regretless.LinUCB(3, 4).fit_logs(
            str(path), weighting=weighting, max_weight=3.0, batch_size=300
        )
        sharded = experiment.learn_sharded(
            regretless.LinUCB(3, 4), path, n_shards=5, weighting=weighting, max_weight=3.0
        )
        assert sharded.n_updates == fitted.n_updates == 2000
        np.testing.assert_allclose(sharded.coefficients(), fitted.coefficients(), rtol=0, atol=1e-9)
    # IPS weights really were applied (they differ from the unweighted fit).
    unweighted = experiment.learn_sharded(regretless.LinUCB(3, 4), path, n_shards=5)
    assert not np.allclose(unweighted.coefficients(), sharded.coefficients(), atol=1e-3)


def test_sharded_learning_maps_other_column_names_and_explains_the_old_ones() -> None:
    X, arms, rewards, _ = linear_logs(600)
    old_style = pa.table({"x": list(X), "arm": arms, "reward": rewards})
    with pytest.raises(
        regretless.InvalidParameterError,
        match=r"\['action', 'context'\] missing.*columns=\{'action': 'arm', 'context': 'x'\}",
    ):
        experiment.learn_sharded(regretless.LinUCB(3, 4), old_style)
    mapped = experiment.learn_sharded(
        regretless.LinUCB(3, 4), old_style, columns={"action": "arm", "context": "x"}, n_shards=3
    )
    direct = regretless.LinUCB(3, 4)
    direct.update_batch(X, arms, rewards)
    np.testing.assert_allclose(mapped.coefficients(), direct.coefficients(), rtol=0, atol=1e-9)
    with pytest.raises(regretless.InvalidParameterError, match="pscore"):
        experiment.learn_sharded(
            regretless.LinUCB(3, 4),
            old_style,
            weighting="ips",
            columns={"action": "arm", "context": "x"},
        )
    with pytest.raises(regretless.InvalidParameterError, match="weight"):
        experiment.learn_sharded(
            regretless.UCB1(3), pa.table({"action": arms, "reward": rewards}), weight="w"
        )


def test_logs_read_equal_length_list_contexts_and_reject_ragged_ones() -> None:
    from regretless import logs as rlogs

    X = np.arange(12.0).reshape(4, 3)
    table = pa.table({"action": [0, 1, 0, 1], "reward": [1.0, 0.0, 1.0, 0.0], "context": list(X)})
    assert pa.types.is_list(table.schema.field("context").type)
    np.testing.assert_array_equal(rlogs.read_logs(table).context, X)
    batches = list(rlogs.iter_batches(table, batch_size=3, context=True))
    np.testing.assert_array_equal(np.vstack([b.context for b in batches]), X)
    ragged = pa.table({"action": [0, 1], "reward": [1.0, 0.0], "context": [[1.0, 2.0], [3.0]]})
    with pytest.raises(regretless.ShapeError, match="column 'context', row 1: a list of 1"):
        rlogs.read_logs(ragged)
    # fit_logs asks for the context with context=True: an Arrow source reads it too.
    policy = regretless.LinUCB(2, 3).fit_logs(table, weighting="none")
    assert policy.n_updates == 4


# -- the Ray code paths, without Ray ------------------------------------------------------


@pytest.fixture
def fake_ray(monkeypatch: pytest.MonkeyPatch):
    """A stand-in for the parts of Ray the backends call (tasks run inline, object refs
    hold values, a dataset is a list of Arrow blocks), so the Ray code paths run in
    every test session; the real-Ray tests above check the same against Ray itself."""
    import sys
    import types

    class Ref:
        def __init__(self, value):
            self.value = value

    def unwrap(x):
        return x.value if isinstance(x, Ref) else x

    def remote(num_cpus=1):
        def wrap(fn):
            return types.SimpleNamespace(remote=lambda *a, **k: Ref(fn(*map(unwrap, a), **k)))

        return wrap

    class Dataset:
        def __init__(self, blocks):
            self.blocks = blocks

        def select_columns(self, cols):
            return Dataset([b.select(cols) for b in self.blocks])

        def repartition(self, n):
            t = pa.concat_tables(self.blocks)
            bounds = np.linspace(0, t.num_rows, n + 1).astype(int)
            return Dataset(
                [t.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            )

        def map_batches(self, fn, batch_size=None, batch_format="pyarrow", fn_kwargs=None):
            assert batch_size is None and batch_format == "pyarrow"
            return Dataset([fn(b, **(fn_kwargs or {})) for b in self.blocks])

        def take_all(self):
            return [row for b in self.blocks for row in b.to_pylist()]

    data = types.ModuleType("ray.data")
    data.from_arrow = lambda t: Dataset([t])
    data.read_parquet = lambda files: Dataset([pq.read_table(f) for f in files])
    ray = types.ModuleType("ray")
    ray.data = data
    ray.is_initialized = lambda: True
    ray.cluster_resources = lambda: {"CPU": 2.0}
    ray.remote = remote
    ray.put = Ref
    ray.get = unwrap
    ray.wait = lambda refs, num_returns=1: (refs[:1], refs[1:])
    ray.cancel = lambda ref: None
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray.data", data)
    return ray


def test_ray_code_paths_agree_with_local_ones(fake_ray, tmp_path: pathlib.Path) -> None:
    grid = small_grid(seeds=[0])
    local = experiment.run(grid)
    distributed = experiment.run(grid, tmp_path, backend="ray", cells_per_task=3)
    assert distributed.drop_columns(["wall_seconds"]).equals(local.drop_columns(["wall_seconds"]))
    assert len(list((tmp_path / "cells").glob("*.parquet"))) == len(grid.cells)
    X, arms, rewards, weights = linear_logs(1200)
    logs = write_logs(tmp_path, X, arms, rewards, weights)
    direct = regretless.LinUCB(3, 4)
    direct.update_batch(X, arms, rewards, weights)
    for source in (logs, pq.read_table(logs)):
        learned = experiment.learn_sharded(
            regretless.LinUCB(3, 4), source, backend="ray", n_shards=5, weight="w"
        )
        np.testing.assert_allclose(learned.coefficients(), direct.coefficients(), rtol=0, atol=1e-9)
