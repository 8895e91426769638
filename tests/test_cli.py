from __future__ import annotations

import argparse
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


# -- messages (issue 14, item 8) ------------------------------------------------------------


def test_report_of_a_missing_file_says_it_does_not_exist(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["report", str(tmp_path / "nope.parquet")]) == 2
    err = capsys.readouterr().err
    assert "nope.parquet" in err and "does not exist" in err


def test_report_of_a_toml_file_suggests_running_it(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "exp.toml"
    path.write_text('horizon = 10\n[[policy]]\nname = "UCB1"\n')
    assert cli.main(["report", str(path)]) == 2
    captured = capsys.readouterr()
    assert "not a Parquet results file" in captured.err
    assert f"regretless run {path}" in captured.err
    assert "Traceback" not in captured.err + captured.out
    (tmp_path / "empty.parquet").write_bytes(b"")
    assert cli.main(["report", str(tmp_path / "empty.parquet")]) == 2
    assert "empty" in capsys.readouterr().err


def test_demo_validates_before_the_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    for args, expected in [
        (["--horizon", "0"], "horizon: must be an integer >= 1, got 0"),
        (["--runs", "0"], "runs: must be an integer >= 1, got 0"),
        (["--seed", "-1"], "seed: expected None or an integer in [0, 2**64), got -1"),
        (["--means", "0.5,1.5"], "means"),
    ]:
        assert cli.main(["demo", *args, "--no-plot"]) == 2
        captured = capsys.readouterr()
        assert expected in captured.err
        # Nothing ran: no header, no progress bar, no table.
        assert captured.out == ""
        assert "simulating" not in captured.err


def test_demo_rejects_unparsable_means_with_a_usage_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["demo", "--means", "0.5,x"])
    assert e.value.code == 2
    assert "comma-separated numbers" in capsys.readouterr().err


def test_run_names_the_valid_hyperparameters_of_a_typo(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "exp.toml"
    path.write_text(
        'horizon = 100\n[[policy]]\nname = "KLUCB"\nparams = { dvergence = "gaussian" }\n'
        '[[env]]\nname = "e"\nmeans = [0.1, 0.9]\n'
    )
    assert cli.main(["run", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown hyperparameter 'dvergence'" in err
    assert "did you mean 'divergence'?" in err
    assert "valid hyperparameters: divergence, c, plus, variance" in err
    # A top-level key typo gets the same treatment.
    path.write_text('horizn = 100\n[[env]]\nname = "e"\nmeans = [0.1, 0.9]\n')
    assert cli.main(["run", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'horizn'" in err and "did you mean 'horizon'?" in err


def test_help_is_plain_text_and_every_option_is_explained(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = capsys.readouterr().out
    assert "``" not in top and ":func:" not in top
    assert "regretless run experiment.toml" in top
    parser = cli.build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(commands.choices) == ["demo", "report", "run", "serve"]
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    assert "where the cells run" in capsys.readouterr().out


def test_lai_robbins_constant_at_the_edges_of_the_bernoulli_range() -> None:
    import math

    # kl(0, 0.5) = ln 2: the arm at 0 adds 0.5 / ln 2; an arm against a best mean of 1
    # is at infinite divergence and adds nothing.
    assert abs(cli.lai_robbins_constant([0.0, 0.5]) - 0.5 / math.log(2)) < 1e-12
    assert cli.lai_robbins_constant([0.3, 1.0]) == 0.0
    assert cli.lai_robbins_constant([0.5, 0.5]) == 0.0
