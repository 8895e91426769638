#!/usr/bin/env bash
# The W3 peer environment: obp 0.4.1 with its runtime dependencies except torch, which is
# replaced by a stand-in package on this venv's path only (obp imports torch at module
# import time but its numpy estimators never call it). See benches/README.md (W3).
#   bash benches/setup_obp_venv.sh [VENV]        (default /work/.venv-obp)
set -euo pipefail
VENV="${1:-/work/.venv-obp}"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q obp==0.4.1 --no-deps
"$VENV/bin/pip" install -q numpy scipy "pandas<3" scikit-learn matplotlib seaborn tqdm \
    pyyaml pyarrow mypy-extensions
S="$VENV/stub/torch"
mkdir -p "$S/nn" "$S/optim" "$S/utils/data"
cat > "$S/__init__.py" <<'EOF'
"""Stand-in for torch, for the obp benchmark venv only: obp 0.4.1 imports torch at module
import time (type annotations, isinstance checks, nn.Module subclasses) but its numpy
estimators never call it. Nothing here computes anything."""
from . import nn, optim, utils  # noqa: F401

__version__ = "0.0.0+stub"


class Tensor:
    """Never instantiated: isinstance(x, torch.Tensor) is False for numpy inputs."""


class device:  # noqa: N801
    def __init__(self, *args, **kwargs):
        pass


int64 = "int64"
float32 = "float32"
float64 = "float64"


def _unavailable(*args, **kwargs):
    raise RuntimeError("torch is a stub in this venv (see benches/README.md, W3)")


ones_like = allclose = any = sum = from_numpy = tensor = _unavailable
EOF
cat > "$S/nn/__init__.py" <<'EOF'
from . import functional  # noqa: F401


class Module:
    pass


def __getattr__(name):
    return Module
EOF
cat > "$S/nn/functional.py" <<'EOF'
def __getattr__(name):
    raise AttributeError(f"torch stub: nn.functional.{name}")
EOF
cat > "$S/optim/__init__.py" <<'EOF'
class Optimizer:
    pass


def __getattr__(name):
    return Optimizer
EOF
echo 'from . import data  # noqa: F401' > "$S/utils/__init__.py"
cat > "$S/utils/data/__init__.py" <<'EOF'
class Dataset:
    pass


class DataLoader:
    pass


def random_split(*args, **kwargs):
    raise RuntimeError("torch is a stub in this venv")
EOF
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$VENV/stub" > "$SITE/torch_stub.pth"
"$VENV/bin/python" -c "from obp.ope import InverseProbabilityWeighting, DoublyRobust; print('obp ok')"
