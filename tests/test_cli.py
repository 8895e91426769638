from __future__ import annotations

import pathlib

import pytest
from regretless import cli


def test_demo_prints_a_row_per_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--horizon", "400", "--runs", "2", "--no-plot", "--no-progress"]) == 0
    out = capsys.readouterr().out
    for label, _ in cli.demo_lineup(10, 400):
        assert label in out
    assert "Lai-Robbins" in out


def test_demo_writes_the_plot(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    args = [
        "demo",
        "--horizon",
        "300",
        "--runs",
        "2",
        "--plot",
        str(path),
        "--means",
        "0.2,0.5,0.7",
    ]
    assert cli.main(args) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_reports_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--means", "0.5,1.5", "--no-plot", "--no-progress"]) == 2
    assert "means" in capsys.readouterr().err


def test_lai_robbins_constant_matches_the_formula() -> None:
    # Two arms 0.5 vs 0.6: gap 0.1 / kl(0.5, 0.6).
    kl = 0.5 * __import__("math").log(0.5 / 0.6) + 0.5 * __import__("math").log(0.5 / 0.4)
    assert abs(cli.lai_robbins_constant([0.5, 0.6]) - 0.1 / kl) < 1e-12
