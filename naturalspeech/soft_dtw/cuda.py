"""The soft-DTW CUDA kernel (`csrc/soft_dtw_cuda.cu`): built in place with nvcc, called through ctypes.

    python -m naturalspeech.soft_dtw.cuda            # build (or rebuild) the library now
    python -m naturalspeech.soft_dtw.cuda --arch sm_80

The library is `_soft_dtw_cuda.so` beside this file; it is rebuilt when the source is newer. Without
`--arch`, nvcc compiles for the GPU it sees (`-arch=native`), or for its default architecture when there
is none. It needs no PyTorch headers: tensors are passed as raw device pointers with the current stream.

Status: it compiles (tests/test_soft_dtw.py builds it where nvcc exists) but has never run here, as no
GPU was available; the compiled CPU kernel and the PyTorch twin are the tested implementations.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

SOURCE = Path(__file__).resolve().parent / "csrc" / "soft_dtw_cuda.cu"
LIBRARY = Path(__file__).resolve().parent / "_soft_dtw_cuda.so"
_library = None


class CudaBuildError(RuntimeError):
    """The CUDA kernel could not be built or loaded."""


def nvcc_path() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    candidate = Path(home, "bin", "nvcc") if home else Path("/usr/local/cuda/bin/nvcc")
    return str(candidate) if candidate.is_file() else None


def build(output: str | Path = LIBRARY, arch: str | None = None, force: bool = False) -> Path:
    """Compile the kernel into `output` (skipped when it is newer than the source, unless force)."""
    output = Path(output)
    if not force and output.is_file() and output.stat().st_mtime >= SOURCE.stat().st_mtime:
        return output
    nvcc = nvcc_path()
    if nvcc is None:
        raise CudaBuildError(
            "the soft-DTW CUDA kernel needs nvcc (the CUDA toolkit) to be built; install it or use the "
            "'cython' or 'torch' soft-DTW backend"
        )
    if arch is None:
        arch = "native" if torch.cuda.is_available() else None
    command = [nvcc, "-O3", "-shared", "-Xcompiler", "-fPIC", "-o", str(output), str(SOURCE)]
    if arch:
        command[1:1] = [f"-arch={arch}"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise CudaBuildError(f"nvcc failed ({' '.join(command)}):\n{result.stderr.strip()[-2000:]}")
    return output


def load(path: str | Path = LIBRARY) -> ctypes.CDLL:
    """The library, built first if needed; its two entry points with their argument types."""
    global _library
    if _library is not None and path == LIBRARY:
        return _library
    library = ctypes.CDLL(str(build(path) if path == LIBRARY else path))
    pointer, integer, real = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    library.ns_soft_dtw_cuda_forward.argtypes = [pointer] * 3 + [integer] * 3 + [real] * 2 + [pointer] * 4
    library.ns_soft_dtw_cuda_backward.argtypes = [pointer] * 4 + [integer] * 3 + [real] * 2 + [pointer] * 3
    library.ns_soft_dtw_cuda_forward.restype = library.ns_soft_dtw_cuda_backward.restype = integer
    library.ns_soft_dtw_cuda_error.restype = ctypes.c_char_p
    library.ns_soft_dtw_cuda_error.argtypes = [integer]
    if path == LIBRARY:
        _library = library
    return library


def _check(library, code: int) -> None:
    if code:
        raise RuntimeError(f"soft-DTW CUDA kernel: {library.ns_soft_dtw_cuda_error(code).decode()}")


def _device_inputs(D: torch.Tensor, lengths_n: torch.Tensor, lengths_m: torch.Tensor):
    if D.device.type != "cuda":
        raise ValueError(f"the 'cuda' soft-DTW backend needs CUDA tensors, got {D.device}")
    costs = D.detach().to(torch.float32).contiguous()
    return costs, lengths_n.to(D.device, torch.int64), lengths_m.to(D.device, torch.int64)


def _pointer(tensor: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(tensor.data_ptr())


def forward(D, lengths_n, lengths_m, gamma, warp):
    library = load()
    costs, n, m = _device_inputs(D, lengths_n, lengths_m)
    batch, n_rows, n_cols = costs.shape
    scratch = torch.empty(batch, n_rows + 2, n_cols + 2, dtype=torch.float64, device=costs.device)
    table = torch.empty(batch, n_rows + 2, n_cols + 2, dtype=torch.float32, device=costs.device)
    values = torch.empty(batch, dtype=torch.float32, device=costs.device)
    stream = ctypes.c_void_p(torch.cuda.current_stream(costs.device).cuda_stream)
    code = library.ns_soft_dtw_cuda_forward(
        _pointer(costs),
        _pointer(n),
        _pointer(m),
        batch,
        n_rows,
        n_cols,
        gamma,
        warp,
        _pointer(scratch),
        _pointer(table),
        _pointer(values),
        stream,
    )
    _check(library, code)
    return values, table


def backward(D, table, lengths_n, lengths_m, gamma, warp):
    library = load()
    costs, n, m = _device_inputs(D, lengths_n, lengths_m)
    batch, n_rows, n_cols = costs.shape
    scratch = torch.empty(batch, n_rows + 2, n_cols + 2, dtype=torch.float64, device=costs.device)
    grad = torch.zeros(batch, n_rows, n_cols, dtype=torch.float32, device=costs.device)
    stream = ctypes.c_void_p(torch.cuda.current_stream(costs.device).cuda_stream)
    code = library.ns_soft_dtw_cuda_backward(
        _pointer(costs),
        _pointer(table.contiguous()),
        _pointer(n),
        _pointer(m),
        batch,
        n_rows,
        n_cols,
        gamma,
        warp,
        _pointer(scratch),
        _pointer(grad),
        stream,
    )
    _check(library, code)
    return grad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m naturalspeech.soft_dtw.cuda",
        description="Build the soft-DTW CUDA kernel in place (needs nvcc; never run by its authors).",
    )
    parser.add_argument("--arch", default=None, help="nvcc -arch value [native with a GPU, else nvcc's]")
    parser.add_argument("-o", "--output", default=str(LIBRARY), help="library to write")
    args = parser.parse_args(argv)
    try:
        path = build(args.output, args.arch, force=True)
    except CudaBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
