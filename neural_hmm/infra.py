"""Run infrastructure shared, as identical copies, by every paper folder (as DeepLearningExamples copies
its `common/` into each example): devices and DDP, precision, seeding and RNG state, the optimizer, the
guarded optimizer step, resumable data order, files that are never half-written or silently replaced,
weights-only checkpoint reading, the run log, and the `main()` shim.

Nothing here knows a model. The copies must stay byte-identical (`tests/test_repository.py` reports any
drift): change one, then copy it into every paper folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pickle
import platform
import random
import re
import shutil
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler


class UserError(ValueError):
    """A problem with the user's input (file, argument, checkpoint, data): one line, no traceback."""


class CheckpointError(UserError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file."""


class OutputError(UserError):
    """An output path that cannot be written, or would replace something that must be kept."""


class TrainingStopped(UserError):
    """Training cannot go on (too many non-finite steps in a row); the last checkpoint is kept."""


# ---------------------------------------------------------------------------------------------------
# Command line


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help shows the description as written and each flag's default, except where there is none (or
    the help text already says it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, "") or "[" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """`--device cpu|cuda|cuda:N` (default: cuda when available) and `--cpu`, its alias for `--device cpu`."""
    default = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default, help="torch device: cpu, cuda or cuda:N")
    parser.add_argument(
        "--cpu", dest="device", action="store_const", const="cpu", help="same as --device cpu"
    )


def resolve_device(name: str) -> torch.device:
    """The torch device for `--device`; a clear error for a malformed name or a GPU that is not there."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r}: expected cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name}: only cpu and cuda are supported")
    return device


def require_positive(parser: argparse.ArgumentParser, args: argparse.Namespace, *names: str) -> None:
    """parser.error for any of `names` (attributes of args) that is set and below 1."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def cpu_workers(requested: int) -> int:
    """DataLoader workers: at most one per core left after the training process (20 workers on a
    2-core machine only add start-up time and memory)."""
    return max(0, min(requested, (os.cpu_count() or 1) - 1))


_malloc_trim: Any = None
_reference_mib: float | None = None


def resident_mib() -> float | None:
    """This process's resident set size in MiB (None where /proc is absent)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def return_freed_memory(growth_mib: float = 0.0) -> None:
    """Hand the C heap's free pages back to the OS (glibc's malloc_trim; a no-op where there is none).

    With `growth_mib`, only once the resident size is that far above what it was at the first call with
    an allowance (training calls this after every step; the first call sets the reference).

    Why: on the CPU every batch has other shapes, and glibc keeps the freed buffers of earlier shapes
    resident. A Neural-HMM recipe run (batch 16 of 1-3.5 s sentences) grew from 3 to 11 GB in 2,700
    updates and was killed for memory on a 24 GB machine. Why an allowance: after a trim the next step
    faults its buffers back in; trimming after every step of that recipe cost 55-65% per update, and an
    allowance counted from the size after each trim still trimmed every 3-4 steps.
    """
    global _malloc_trim, _reference_mib
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
                pass
    if not _malloc_trim:
        return
    if growth_mib > 0:
        resident = resident_mib()
        if resident is None:
            return
        if _reference_mib is None:
            _reference_mib = resident
        if resident - _reference_mib < growth_mib:
            return
    _malloc_trim(0)


def run_main(function: Callable[[], Any], errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run a command's body: 0 on success; `error: <message>` and 1 for a UserError (or `errors`); 130 on
    Ctrl-C. Anything else is a bug and keeps its traceback."""
    try:
        function()
    except (UserError, *errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


# ---------------------------------------------------------------------------------------------------
# Distributed data parallel (torchrun sets RANK / LOCAL_RANK / WORLD_SIZE)


class Distributed(NamedTuple):
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_name: str) -> Distributed:
    """A process group only when WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU); each CUDA process takes
    GPU LOCAL_RANK."""
    device = resolve_device(device_name)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world_size > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    return Distributed(rank, local_rank, world_size, device)


def teardown_distributed(ddp: Distributed) -> None:
    if ddp.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def wrap_for_training(model: torch.nn.Module, ddp: Distributed) -> torch.nn.Module:
    """The module the loop calls: DDP (which averages gradients during backward) or the model itself."""
    if ddp.world_size == 1:
        return model
    device_ids = [ddp.device.index] if ddp.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sum(values: torch.Tensor, ddp: Distributed) -> torch.Tensor:
    if ddp.world_size > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def mean_over_ranks(values: dict[str, torch.Tensor], ddp: Distributed) -> dict[str, float]:
    """Scalar tensors averaged over ranks, as Python floats, in one collective (so every rank takes the
    same decision about a non-finite loss)."""
    stacked = torch.stack([value.detach().float().reshape(()) for value in values.values()])
    totals = all_reduce_sum(stacked, ddp).tolist()
    return {name: total / ddp.world_size for name, total in zip(values, totals)}


def barrier(ddp: Distributed) -> None:
    if ddp.world_size > 1:
        dist.barrier()


# ---------------------------------------------------------------------------------------------------
# Precision


class Precision:
    """Mixed precision as every folder uses it: fp16 autocast with a GradScaler on CUDA, bf16 autocast
    without a scaler on CPU, or float32 when disabled."""

    def __init__(self, device: torch.device, enabled: bool):
        self.device_type = device.type
        self.enabled = enabled
        self.dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler(device.type, enabled=enabled and device.type == "cuda")

    @property
    def name(self) -> str:
        return {torch.float16: "fp16", torch.bfloat16: "bf16"}[self.dtype] if self.enabled else "fp32"

    def autocast(self):
        return torch.autocast(device_type=self.device_type, dtype=self.dtype, enabled=self.enabled)


# ---------------------------------------------------------------------------------------------------
# Seeding and RNG state (saved in checkpoints so a resumed run draws what an uninterrupted one would)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def rng_state() -> dict:
    """This process's RNG states, in types `torch.load(weights_only=True)` accepts."""
    name, key, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda_all": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (name, torch.from_numpy(key.astype(np.int64)), position, has_gauss, cached_gaussian),
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda_all"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_all"])
    name, key, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    random.setstate(state["python"])


def gather_rng_states(ddp: Distributed) -> list[dict]:
    """Every rank's RNG state, in rank order (a collective: all ranks must call it)."""
    if ddp.world_size == 1:
        return [rng_state()]
    states = [None] * ddp.world_size
    dist.all_gather_object(states, rng_state())
    return states


def rng_untouched(device: torch.device):
    """A context in which random draws (validation with dropout on, sample synthesis) leave the training
    RNG streams as they were: how often a run validates, or where it stopped, does not change its training."""
    devices = [device] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def restore_rng_states(states: list[dict], ddp: Distributed) -> None:
    """This rank's saved RNG state; call it last when resuming, after everything that draws random
    numbers while being built (model, data loaders)."""
    if len(states) == ddp.world_size:
        set_rng_state(states[ddp.rank])
    elif ddp.is_main:
        print(
            f"checkpoint has RNG states of {len(states)} ranks, not {ddp.world_size}: not restored",
            file=sys.stderr,
        )


# ---------------------------------------------------------------------------------------------------
# Optimizer and the guarded step


def make_adam(parameters, lr: float, weight_decay: float, **options) -> torch.optim.Optimizer:
    """Adam through torch's fused kernel where the device has one: the same update to float rounding, in
    one op over all tensors (the per-tensor loop takes ~3x longer on CPU: 1.36 vs 0.41 s a step for
    WaveGlow's 88M weights)."""
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=True, **options)
    except RuntimeError:  # a device without the fused kernel
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, **options)


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


class StepResult(NamedTuple):
    applied: bool  # False: the loss or the gradient was not finite and the step was skipped
    grad_norm: float  # total L2 norm before clipping (nan when not computed)


class GuardedStep:
    """Backward, clip and optimizer step, skipping any step whose loss or gradient is not finite.

    A skipped step leaves the weights, the optimizer and the module buffers (BatchNorm statistics, which
    the forward pass already updated) as they were; `max_in_a_row` skipped steps in a row stop the run
    with TrainingStopped. Use: `snapshot()` before the forward pass, then `step(loss, reduced_loss)`.
    """

    def __init__(
        self, model, optimizer, precision: Precision, clip: float = math.inf, max_in_a_row: int = 10
    ):
        self.model, self.optimizer, self.precision = model, optimizer, precision
        self.clip, self.max_in_a_row = clip, max_in_a_row
        self.skipped_in_a_row = 0
        self._buffers: list[torch.Tensor] = []

    def snapshot(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self._buffers = [buffer.clone() for buffer in self.model.buffers()]

    def step(self, loss: torch.Tensor, reduced_loss: float) -> StepResult:
        """loss: this rank's scalar loss; reduced_loss: its mean over ranks (the same on every rank)."""
        scaler = self.precision.scaler
        grad_norm = math.nan
        if math.isfinite(reduced_loss):
            scaler.scale(loss).backward()
            scaler.unscale_(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip))
        # Under fp16 the scaler itself skips steps with inf/NaN gradients and lowers its scale: routine.
        if math.isfinite(reduced_loss) and (scaler.is_enabled() or math.isfinite(grad_norm)):
            scaler.step(self.optimizer)
            scaler.update()
            self.skipped_in_a_row = 0
            return StepResult(True, grad_norm)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for buffer, saved in zip(self.model.buffers(), self._buffers):
                buffer.copy_(saved)
        self.skipped_in_a_row += 1
        return StepResult(False, grad_norm)

    def check(self, where: str) -> None:
        """TrainingStopped once `max_in_a_row` steps in a row were skipped."""
        if self.skipped_in_a_row >= self.max_in_a_row:
            raise TrainingStopped(
                f"stopped after {self.skipped_in_a_row} consecutive non-finite steps (last: {where}); "
                "the last checkpoint is unchanged"
            )


# ---------------------------------------------------------------------------------------------------
# Resumable data order: the batches of an epoch are fixed by (seed, epoch), so a run can stop after any
# batch and resume with the next one, drawing exactly what an uninterrupted run would.


class Position(NamedTuple):
    """Where a run is: `iteration` steps taken; the next batch is `next_batch` of `epoch`."""

    epoch: int = 0
    iteration: int = 0
    next_batch: int = 0


def epoch_batches(sampler: DistributedSampler, epoch: int, batch_size: int) -> list[list[int]]:
    """This rank's full batches of `epoch` (index lists, in order)."""
    sampler.set_epoch(epoch)
    indices = list(sampler)
    return [indices[i : i + batch_size] for i in range(0, len(indices) - batch_size + 1, batch_size)]


def epoch_loader(
    dataset, sampler: DistributedSampler, position: Position, batch_size: int, seed: int, **options
):
    """A DataLoader over the rest of `position.epoch`, from batch `position.next_batch` on."""
    batches = epoch_batches(sampler, position.epoch, batch_size)[position.next_batch :]
    # An own generator: creating a DataLoader iterator otherwise draws from the global RNG, and a run
    # resumed mid-epoch creates one iterator more than an uninterrupted run.
    generator = torch.Generator().manual_seed(seed + position.epoch)
    return DataLoader(dataset, batch_sampler=batches, generator=generator, **options)


# ---------------------------------------------------------------------------------------------------
# Output paths: checked before the work starts; written atomically; never replacing what must be kept

TEMPORARY_SUFFIX = ".partial"
# How a checkpoint file starts: a zip archive (PyTorch >= 1.6), or PyTorch's legacy format, whose first
# pickle is the magic number 0x1950A86A20F9469CFC6C (protocol 2).
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"


def check_output_dir(path: str | Path, flag: str = "output folder") -> Path:
    """Create `path` if needed and make sure files can be written in it, before any work is done."""
    path = Path(path)
    blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise OutputError(f"{flag} {path}: {blocker} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with open(path / f".write-test-{os.getpid()}{TEMPORARY_SUFFIX}", "wb"):
            pass
        (path / f".write-test-{os.getpid()}{TEMPORARY_SUFFIX}").unlink()
    except OSError as error:
        raise OutputError(f"{flag} {path}: cannot write there ({error.strerror or error})") from None
    return path


def check_output_file(path: str | Path, force: bool = False, flag: str = "output") -> Path:
    """A file about to be written: its folder is writable, and an existing file is replaced only with
    `force` (and never when it is a folder)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a folder; give a file name")
    if path.exists() and not force:
        raise OutputError(f"{flag} {path} exists; pass --force to replace it")
    check_output_dir(path.parent if str(path.parent) else Path("."), f"folder of {flag}")
    return path


def synthesis_outputs(output: str | Path, stems: Sequence[str], force: bool = False) -> dict[str, Path]:
    """stem -> WAV path for a synthesis command's `-o`: a `.wav` file for a single utterance (`--text "..."
    -o hello.wav`), else a folder of `<stem>.wav`. Checked before any work: the place is writable, and
    existing WAVs are replaced only with `force`."""
    output = Path(output)
    if output.suffix.lower() == ".wav":
        if len(stems) != 1:
            raise OutputError(
                f"-o {output}: {len(stems)} utterances need an output folder, not one .wav file"
            )
        targets = {stems[0]: check_output_file(output, force, "-o")}
    else:
        folder = check_output_dir(output, "-o")
        targets = {stem: folder / f"{stem}.wav" for stem in stems}
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not force:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise OutputError(f"{', '.join(existing[:3])}{more} exist(s); pass --force to replace them")
    return targets


def refuse_to_replace(output: str | Path, *inputs: str | Path) -> None:
    """OutputError when writing `output` would replace one of `inputs` (the same path, or a link to or
    from it) or write through a symbolic link: converters must never destroy their own source, and a
    `*_last` link must never be overwritten with what it points to."""
    output = Path(output)
    if output.is_symlink():
        raise OutputError(f"{output} is a link to {output.resolve()}; refusing to write through it")
    for source in map(Path, inputs):
        same = output.resolve() == source.resolve()
        if not same and output.exists() and source.exists():
            same = os.path.samefile(output, source)
        if same:
            raise OutputError(f"{output} is the input {source}; write the result to another file")


def atomic_write(path: str | Path, write: Callable[[Any], None]) -> Path:
    """Call write(stream) on a temporary file in the same folder, fsync, then rename it onto `path`: an
    interrupted write never leaves a truncated file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")
    try:
        with open(temporary, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def save_atomic(obj: Any, path: str | Path) -> Path:
    """torch.save, atomically."""
    return atomic_write(path, lambda stream: torch.save(obj, stream))


def point_last(path: str | Path, last_path: str | Path) -> None:
    """Make `last_path` a relative symbolic link to `path`, replaced atomically (a copy where links fail)."""
    path, last_path = Path(path), Path(last_path)
    temporary = last_path.with_name(f".{last_path.name}{TEMPORARY_SUFFIX}")
    temporary.unlink(missing_ok=True)
    try:
        os.symlink(os.path.relpath(path, last_path.parent), temporary)
    except OSError:
        shutil.copyfile(path, temporary)
    os.replace(temporary, last_path)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed process left in `folder` (a kill -9 mid-write leaves one)."""
    removed = []
    for path in Path(folder).glob(f".*{TEMPORARY_SUFFIX}"):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def prepare_run_folder(
    folder: str | Path,
    used_markers: Sequence[str],
    resume: bool,
    force: bool,
    previous_logs: Sequence[str] = (),
) -> Path:
    """The folder of a training run, checked before anything is computed.

    A new run in a folder that holds an earlier run's files (`used_markers`: glob patterns) stops and asks
    for --resume (continue it) or --force (start over there: its checkpoints are replaced as new ones are
    written, and the logs named in `previous_logs` are kept as `<name>.<n>`). Temporary files a killed
    run left behind are removed.
    """
    folder = check_output_dir(folder, "run folder")
    remove_stale_temporaries(folder)
    used = sorted({p.name for pattern in used_markers for p in folder.glob(pattern)})
    if used and not resume and not force:
        raise OutputError(
            f"{folder} already holds a run ({', '.join(used[:3])}{' ...' if len(used) > 3 else ''}); pass "
            "--resume to continue it or --force to start a new run there, or choose another output folder"
        )
    if used and force and not resume:
        for name in previous_logs:
            log = folder / name
            if log.exists():
                number = 1 + sum(1 for _ in folder.glob(f"{name}.*"))
                log.rename(folder / f"{name}.{number}")
    return folder


# ---------------------------------------------------------------------------------------------------
# Reading checkpoints without running code from them


def load_weights_only(
    path: str | Path,
    safe_globals: Iterable = (),
    map_location: str | torch.device = "cpu",
    legacy_pickle_module=None,
) -> Any:
    """torch.load(weights_only=True) with `safe_globals` allowed, and one-line errors naming the file.

    Files of PyTorch < 1.6 (not zip archives) are refused unless `legacy_pickle_module` (a restricted
    unpickler) is given. Raises CheckpointError for a missing path, a folder, an empty, truncated or
    non-PyTorch file, and a pickle that references anything not allowed (e.g. `os.system`).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            start = stream.read(len(LEGACY_TORCH_MAGIC))
        if start.startswith(b"PK\x03\x04"):
            raise CheckpointError(
                f"{path}: truncated or not a PyTorch checkpoint ({size} bytes; a zip archive "
                "without its end: an interrupted copy or download?)"
            )
        if start != LEGACY_TORCH_MAGIC:
            raise CheckpointError(
                f"{path}: not a PyTorch checkpoint ({size} bytes; neither a zip archive nor "
                "PyTorch's legacy format)"
            )
    try:
        if zipfile.is_zipfile(path):
            with torch.serialization.safe_globals(list(safe_globals)):
                return torch.load(path, map_location=map_location, weights_only=True)
        if legacy_pickle_module is None:
            with torch.serialization.safe_globals(list(safe_globals)):
                return torch.load(path, map_location=map_location, weights_only=True)
        with warnings.catch_warnings():
            # Legacy files store the source of pickled classes; allow-listed stand-ins have none to compare.
            warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
            return torch.load(
                path, map_location=map_location, weights_only=False, pickle_module=legacy_pickle_module
            )
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path}: {_describe_unpickling_error(str(error), size)}") from None
    except (EOFError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path}: truncated or not a PyTorch checkpoint ({size} bytes; {error})"
        ) from None
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if any(
            hint in str(error) for hint in ("PytorchStreamReader", "central directory", "zip archive", "EOF")
        ):
            raise CheckpointError(
                f"{path}: truncated or not a PyTorch checkpoint ({size} bytes; {first_line})"
            ) from None
        raise


def _describe_unpickling_error(message: str, size: int) -> str:
    """torch's weights-only refusals, reduced to what was refused (without its advice to re-run with
    weights_only=False, which would run the file's code)."""
    if "magic number" in message or "invalid load key" in message:
        return f"not a PyTorch checkpoint ({size} bytes; {message.splitlines()[0]})"
    if "truncated" in message or "EOF" in message or "ran out of input" in message.lower():
        return f"truncated or corrupt ({size} bytes)"
    found = re.search(r"GLOBAL ([\w.]+)", message) or re.search(r"(?:function|global) [`']?([\w.]+)", message)
    detail = f"it references `{found.group(1)}`" if found else _first_sentence(message)
    return (
        f"refused to load: {detail}, which checkpoints of this model never need; loading it normally could "
        "run code from the file"
    )


def _first_sentence(message: str) -> str:
    for line in message.splitlines():
        line = line.strip()
        if line and not line.lower().startswith(("weights only load failed", "please file", "check the")):
            return re.sub(r"\s*Re-running `torch.load`.*", "", line)
    return "an object outside the allow list"


def check_finite(state_dict: dict, source: str) -> None:
    """CheckpointError naming the first floating-point tensor with a NaN or infinite value."""
    for name, tensor in state_dict.items():
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(
                f"{source}: tensor {name!r} has {bad} non-finite value(s) (NaN or inf): broken weights "
                "(a diverged run?) that would synthesise garbage"
            )


# ---------------------------------------------------------------------------------------------------
# Alignment health: one definition for every attention or HMM model, so runs of different folders compare


def alignment_health(alignment: torch.Tensor, input_lengths, output_lengths) -> dict[str, float]:
    """How far a soft alignment is from a clean monotonic one, averaged over the utterances of a batch.

    alignment: (B, T_out, T_in), each valid row a distribution over the inputs (Tacotron 2 / Flowtron
    attention weights, or a Neural HMM's state posteriors, T_in = states); padding is ignored.
      focus      mean over frames of the largest weight (1: every frame attends to one input; a flat
                 start over N inputs gives about 1/N);
      monotonic  fraction of consecutive frames whose most attended input stays or advances by at most
                 two (a clean alignment reads its input left to right);
      coverage   fraction of inputs that are the most attended one of some frame (1: nothing skipped);
      score      focus * monotonic * coverage, in [0, 1];
      duration_spread  coefficient of variation of the frames each input receives (sum of its weights):
                 near 0 when every input gets the same time (a flat start), larger once durations differ.
    """
    totals = {"focus": 0.0, "monotonic": 0.0, "coverage": 0.0, "score": 0.0, "duration_spread": 0.0}
    count = 0
    for weights, n_in, n_out in zip(alignment.detach().float().cpu(), input_lengths, output_lengths):
        weights = weights[: int(n_out), : int(n_in)]
        if weights.numel() == 0 or not bool(torch.isfinite(weights).all()):
            continue
        peaks, positions = weights.max(dim=1)
        steps = positions.diff()
        focus = float(peaks.mean())
        monotonic = float(((steps >= 0) & (steps <= 2)).float().mean()) if len(steps) else 1.0
        coverage = positions.unique().numel() / int(n_in)
        durations = weights.sum(dim=0)
        spread = (
            float(durations.std(unbiased=False) / durations.mean().clamp_min(1e-8)) if int(n_in) > 1 else 0.0
        )
        for name, value in zip(totals, (focus, monotonic, coverage, focus * monotonic * coverage, spread)):
            totals[name] += value
        count += 1
    return {name: total / count if count else math.nan for name, total in totals.items()}


class AlignmentWatch:
    """Warns when the alignment score has not improved (by `min_gain`) for `patience` validations: users of
    attention models lose days to an alignment that never forms."""

    def __init__(self, patience: int = 5, min_gain: float = 0.01):
        self.patience, self.min_gain = patience, min_gain
        self.best, self.since_best = -math.inf, 0

    def update(self, score: float) -> str | None:
        """A warning to log, or None."""
        if math.isfinite(score) and score > self.best + self.min_gain:
            self.best, self.since_best = score, 0
            return None
        self.since_best += 1
        if self.since_best >= self.patience and self.since_best % self.patience == 0:
            return (
                f"the alignment has not improved for {self.since_best} validations (score {score:.3f}, best "
                f"{self.best:.3f}): check the learning rate, the data and the alignment images"
            )
        return None


# ---------------------------------------------------------------------------------------------------
# The run log: JSON lines (DLLogger's record layout) and TensorBoard, written by rank 0 only


def provenance() -> dict:
    """What a result depends on besides its arguments: code version, torch, Python, machine."""
    root = Path(__file__).resolve().parent.parent
    commit = "unknown (not a git checkout)"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        if found.returncode == 0:
            commit = found.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
            )
            if dirty.stdout.strip():
                commit += " (with uncommitted changes)"
    return {
        "git_commit": commit,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "host": platform.node(),
        "argv": sys.argv,
    }


def _json_value(value: Any) -> Any:
    """NaN and inf are not JSON: they are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class RunLog:
    """One JSON record per line, `{"timestamp", "elapsedtime", "type": "LOG" | "METADATA", "step",
    "data"}`, plus TensorBoard scalars, images and audio. The first record of a run is its provenance.
    Does nothing where `enabled` is false (ranks other than 0)."""

    def __init__(
        self, json_path: str | Path, tensorboard_dir: str | Path | None = None, enabled: bool = True
    ):
        self.enabled = enabled
        self.start = time.time()
        self.stream = self.writer = None
        if not enabled:
            return
        json_path = Path(json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = open(json_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if tensorboard_dir is not None:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(logdir=str(tensorboard_dir))
        self.record("PROVENANCE", provenance(), kind="METADATA")

    def record(self, step, data: dict, kind: str = "LOG") -> None:
        if not self.enabled:
            return
        now = time.time()
        line = {"timestamp": now, "elapsedtime": now - self.start, "type": kind, "step": step, "data": data}
        self.stream.write(json.dumps(_json_value(line), default=str, allow_nan=False) + "\n")
        self.stream.flush()

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """image: (H, W, 3) uint8."""
        if self.writer is not None:
            self.writer.add_image(tag, image, step, dataformats="HWC")

    def audio(self, tag: str, samples: np.ndarray, sampling_rate: int, step: int) -> None:
        """samples: (N,) float in [-1, 1]."""
        if self.writer is not None and len(samples):
            clipped = np.clip(np.nan_to_num(np.asarray(samples, dtype=np.float32)), -1.0, 1.0)
            self.writer.add_audio(tag, clipped, step, sample_rate=sampling_rate)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        if self.writer is not None:
            self.writer.close()


def read_log(path: str | Path) -> list[dict]:
    """The records of a JSON-lines run log (older DLLogger files prefix each line with `DLLL `)."""
    records = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip().removeprefix("DLLL ").strip()
        if line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise UserError(f"{path}:{number}: not a JSON record ({error.msg})") from None
    return records


def figure_to_image(figure) -> np.ndarray:
    """A matplotlib Figure drawn on the Agg canvas (no display, no pyplot state) -> (H, W, 3) uint8."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def plot_matrix(matrix: np.ndarray, xlabel: str, ylabel: str, title: str = "", max_columns: int = 4000):
    """(rows, cols) -> (H, W, 3) uint8 heat map, row 0 at the bottom. Wider matrices are shown
    subsampled to `max_columns` columns, so the picture of a long input stays small."""
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 2 and matrix.shape[1] > max_columns:
        step = math.ceil(matrix.shape[1] / max_columns)
        matrix = matrix[:, ::step]
        xlabel = f"{xlabel} (every {step}th)"
    figure = Figure(figsize=(10, 4))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, aspect="auto", origin="lower", interpolation="none")
    figure.colorbar(image, ax=axes)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return figure_to_image(figure)
