"""The logged-feedback schema and readers: sources, zero-copy conversion, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import regretless
from regretless import datasets, logs

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def small_table(n: int = 1000, seed: int = 0):
    data = datasets.synthetic_logs(n, n_actions=3, dim_context=4, seed=seed)
    return data, data.to_arrow()


def test_schema_and_round_trip_through_parquet(tmp_path) -> None:
    s = logs.schema(4, position=True, timestamp=True)
    assert s.names == ["action", "reward", "pscore", "position", "timestamp", "context"]
    assert logs.schema(context_columns=["x0", "x1"]).names[-2:] == ["x0", "x1"]
    data, table = small_table()
    assert table.schema.equals(logs.schema(4), check_metadata=False)
    path = tmp_path / "a.parquet"
    data.to_logs().to_parquet(path, row_group_size=300)
    back = logs.read_logs(path)
    np.testing.assert_array_equal(back.action, data.action)
    np.testing.assert_array_equal(back.reward, data.reward)
    np.testing.assert_array_equal(back.pscore, data.pscore)
    np.testing.assert_array_equal(back.context, data.context)
    assert logs.count_rows(path) == 1000


def test_fixed_width_columns_are_borrowed_without_a_copy() -> None:
    data, table = small_table()
    fb = logs.read_logs(table)
    # Arrow-backed numpy arrays are read-only views of the Arrow buffers.
    for arr in (fb.action, fb.reward, fb.pscore, fb.context):
        assert not arr.flags.writeable and not arr.flags.owndata
    buf = table.column("reward").chunk(0).buffers()[1]
    assert fb.reward.ctypes.data == buf.address
    # Other widths are converted once, to the library's dtypes.
    t32 = table.set_column(0, "action", table.column("action").cast(pa.int32()))
    t32 = t32.set_column(1, "reward", t32.column("reward").cast(pa.float32()))
    fb32 = logs.read_logs(t32)
    assert fb32.action.dtype == np.int64 and fb32.reward.dtype == np.float64
    np.testing.assert_array_equal(fb32.action, data.action)


def test_every_kind_of_source_gives_the_same_rows(tmp_path) -> None:
    data, table = small_table(500)
    directory = tmp_path / "ds"
    directory.mkdir()
    pq.write_table(table.slice(0, 200), directory / "part-0.parquet")
    pq.write_table(table.slice(200), directory / "part-1.parquet")
    as_dict = {"action": data.action, "reward": data.reward, "pscore": data.pscore}
    sources = [
        table,
        table.to_batches()[0],
        pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=128)),
        directory,
        str(directory),
        as_dict,
        data.to_logs(),
    ]
    for source in sources:
        parts = list(logs.iter_batches(source, batch_size=128))
        action = np.concatenate([p.action for p in parts])
        pscore = np.concatenate([p.pscore for p in parts])
        np.testing.assert_array_equal(np.sort(action), np.sort(data.action))
        assert pscore.sum() == pytest.approx(data.pscore.sum())
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(as_dict)
    np.testing.assert_array_equal(logs.read_logs(frame).action, data.action)


def test_polars_frames_are_read_through_arrow() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"action": [0, 1], "reward": [1.0, 0.0], "pscore": [0.5, 0.5]})
    assert logs.read_logs(frame).action.tolist() == [0, 1]


def test_context_as_list_column_columns_or_sliced_table() -> None:
    data, table = small_table(100)
    cols = {f"x{j}": data.context[:, j] for j in range(4)}
    wide = pa.table({"action": data.action, "reward": data.reward, "pscore": data.pscore, **cols})
    fb = logs.read_logs(wide, context=list(cols))
    np.testing.assert_array_equal(fb.context, data.context)
    sliced = logs.read_logs(table.slice(10, 20))  # an offset into the Arrow buffers
    np.testing.assert_array_equal(sliced.context, data.context[10:30])
    np.testing.assert_array_equal(sliced.action, data.action[10:30])
    assert logs.read_logs(table, context=False).context is None


def test_nulls_types_and_propensities_are_reported_by_column_and_row() -> None:
    base = {"action": [0, 1, 2, 0], "reward": [1.0, 0.0, 1.0, 0.0], "pscore": [0.5] * 4}
    with pytest.raises(regretless.InvalidParameterError, match=r"column 'reward'.*row 2"):
        logs.read_logs(pa.table({**base, "reward": [1.0, 0.0, None, 0.0]}))
    with pytest.raises(regretless.DTypeError, match=r"column 'action': expected an integer"):
        logs.read_logs(pa.table({**base, "action": [0.0, 1.0, 2.0, 0.0]}))
    with pytest.raises(regretless.DTypeError, match=r"column 'reward'"):
        logs.read_logs(pa.table({**base, "reward": ["a", "b", "c", "d"]}))
    for bad in (0.0, 1.5, -0.1):
        p = [0.5, 0.5, 0.5, bad]
        with pytest.raises(regretless.InvalidParameterError, match=r"column 'pscore', row 3"):
            logs.read_logs(pa.table({**base, "pscore": p}))
    with pytest.raises(regretless.RewardError, match=r"column 'reward', row 1"):
        logs.read_logs({**base, "reward": [1.0, np.nan, 1.0, 0.0]})
    with pytest.raises(regretless.InvalidParameterError, match="column 'action'.*missing"):
        logs.read_logs(pa.table({"reward": [1.0]}))
    with pytest.raises(regretless.InvalidParameterError, match="unknown field"):
        logs.read_logs(pa.table(base), columns={"propensity": "pscore"})
    with pytest.raises(regretless.DTypeError, match="source"):
        list(logs.iter_batches(42))
    # Rows are counted across batches.
    p = np.full(1000, 0.5)
    p[777] = 0.0
    table = pa.table({"action": np.zeros(1000, np.int64), "reward": np.ones(1000), "pscore": p})
    with pytest.raises(regretless.InvalidParameterError, match="row 777"):
        list(logs.iter_batches(table, batch_size=100))


def test_renamed_columns_and_extra_columns() -> None:
    data, _ = small_table(50)
    pi = data.softmax_policy(1.0)
    table = data.to_arrow(action_dist=pi).rename_columns(
        ["arm", "reward", "propensity", "context", "action_dist"]
    )
    fb = logs.read_logs(
        table, columns={"action": "arm", "pscore": "propensity"}, extra=["action_dist"]
    )
    np.testing.assert_array_equal(fb.action, data.action)
    np.testing.assert_array_equal(fb.extra["action_dist"], pi)
    assert fb.extra["action_dist"].shape == (50, 3)


@pytest.mark.parametrize(
    "dtype", ["int8", "uint16", "int32", "int64", "uint64", "float16", "float32", "float64"]
)
def test_numeric_columns_are_borrowed_from_the_arrow_buffer(dtype) -> None:
    # Sliced arrays (an offset into the buffer) and empty ones, in every fixed-width type:
    # the numpy view equals pyarrow's own conversion, without a copy for int64 / float64.
    values = np.arange(1, 50).astype(dtype)
    arr = pa.array(values)
    kind = "i" if np.dtype(dtype).kind in "iu" else "f"
    for part in (arr, arr.slice(7, 30), arr.slice(49, 0)):
        got = logs._numeric(part, "x", kind, 0)
        want = part.to_numpy(zero_copy_only=True).astype(np.int64 if kind == "i" else float)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == (np.int64 if kind == "i" else np.float64)
    if dtype in ("int64", "float64"):
        view = logs._numeric(arr.slice(7, 30), "x", kind, 0)
        assert not view.flags.owndata and not view.flags.writeable
