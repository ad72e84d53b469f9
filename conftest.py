"""Repository-wide pytest options and fixtures.

`--device` lets the same tests run on a GPU (`pytest --device cuda`). `shared_dir` points at the
read-only parity fixtures and reference facts in `../shared`: tests that need them skip with a clear
reason on a developer machine without that folder, but fail under CI (`CI=true`), where a silent skip
would hide a parity regression.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="torch device for model tests (cpu, cuda, cuda:1, ...)")


@pytest.fixture(scope="session")
def device(request):
    import torch

    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip(f"--device {name} requested but CUDA is not available")
    return torch.device(name)


def locate_shared_dir() -> Path:
    """The `shared/` folder: $TTS_SHARED_DIR if set, else `../shared` beside the repository."""
    return Path(os.environ.get("TTS_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = locate_shared_dir()
    if not (path / "parity").is_dir():
        reason = f"parity fixtures not found at {path} (set TTS_SHARED_DIR or place shared/ beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; under CI these tests must run, not skip")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module: tiny models run several times faster on one thread than on
    two busy cores. Use with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
