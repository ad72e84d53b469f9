"""Repository-wide pytest options and fixtures.

`--device` lets the same tests run on a GPU (`pytest --device cuda`); `one_thread` pins torch to one
thread for a module. Parity fixtures live inside the repository, in each folder's `tests/fixtures/`
(with a README saying what each file holds), so every parity test runs on a fresh clone and none skips.
"""

import pytest


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="torch device for model tests (cpu, cuda, cuda:1, ...)")


@pytest.fixture(scope="session")
def device(request):
    import torch

    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip(f"--device {name} requested but CUDA is not available")
    return torch.device(name)


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module: tiny models run several times faster on one thread than on
    two busy cores. Use with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
