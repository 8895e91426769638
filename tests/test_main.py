"""``python -m regretless`` is the ``regretless`` command."""

import os
import subprocess
import sys

import regretless


def test_python_dash_m_runs_the_cli():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [sys.executable, "-m", "regretless", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert regretless.__version__ in out.stdout
