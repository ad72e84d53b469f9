"""What train.py needs to know about each model, one recipe per model: its config from the command line,
the model, the loss, the data, how a batch goes through the model, gradient clipping and the validation
images. The training loop calls these and never asks which model it trains; a new model adds a recipe.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import fields

import torch

from .config import Tacotron2Config, WaveGlowConfig
from .data import AudioSegmentDataset, TextMelCollate, TextMelDataset, check_data
from .infra import alignment_health
from .losses import Tacotron2Loss, WaveGlowLoss
from .plots import tacotron2_validation_images
from .tacotron2_model import Tacotron2
from .waveglow_model import WaveGlow


def audio_options(args: argparse.Namespace) -> dict:
    names = ("sampling_rate", "max_wav_value", "filter_length", "hop_length", "win_length", "n_mel_channels",
             "mel_fmin", "mel_fmax")  # fmt: skip
    return {name: getattr(args, name) for name in names}


class Tacotron2Recipe:
    """Text -> mel (and stop gate); items are mel frames, as DLE counts them."""

    name = "Tacotron2"

    def config(self, args: argparse.Namespace) -> Tacotron2Config:
        return Tacotron2Config(**{f.name: getattr(args, f.name) for f in fields(Tacotron2Config)})

    def build_model(self, config: Tacotron2Config, args: argparse.Namespace) -> Tacotron2:
        model = Tacotron2(config)
        if not args.disable_uniform_initialize_bn_weight:
            # DLE's train.py redraws every BatchNorm weight from U[0,1), PyTorch's default before 1.2;
            # NVIDIA/tacotron2 keeps the ones.
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm1d):
                    torch.nn.init.uniform_(module.weight)
        return model

    def loss(self, args: argparse.Namespace) -> Tacotron2Loss:
        return Tacotron2Loss(
            guided_attention_weight=args.guided_attention_weight,
            guided_attention_sigma=args.guided_attention_sigma,
        )

    def clip_threshold(self, args: argparse.Namespace) -> float:
        return args.grad_clip_thresh

    def datasets(self, args: argparse.Namespace):
        """(train set, validation set, collate function)."""

        def dataset(filelist):
            return TextMelDataset(filelist, args.dataset_path, args.text_cleaners, **audio_options(args),
                                  load_mel_from_disk=args.load_mel_from_disk)  # fmt: skip

        return (
            dataset(args.training_files),
            dataset(args.validation_files),
            TextMelCollate(args.n_frames_per_step),
        )

    def check_data(self, args: argparse.Namespace):
        """Every line of both lists, by the checks of `filelists.validate --model tacotron2` (mels from
        disk: their files are checked when the datasets are built)."""
        lists = [args.training_files, args.validation_files]
        if args.load_mel_from_disk:
            return None
        return check_data(
            lists, args.dataset_path, args.text_cleaners, args.sampling_rate, args.filter_length
        )

    def set_epoch(self, dataset, epoch: int) -> None:
        pass

    def forward(self, model, batch, criterion, device: torch.device):
        """One batch -> ({'loss': total, other terms ...}, items, outputs)."""
        text, input_lengths, mel, gate, output_lengths = (t.to(device, non_blocking=True) for t in batch)
        outputs = model(text, input_lengths, mel, output_lengths)
        terms = criterion(outputs, mel, gate, output_lengths, input_lengths)
        losses = {"loss": terms.total, "mel_loss": terms.mel_loss, "mel_postnet_loss": terms.mel_postnet_loss,
                  "gate_loss": terms.gate_loss}  # fmt: skip
        if criterion.guided_attention_weight > 0:
            losses["attention_loss"] = terms.attention_loss
        return losses, int(batch.output_lengths.sum()), outputs

    def validation_images(self, batch, outputs) -> dict:
        return tacotron2_validation_images(batch, outputs)

    def alignment_health(self, batch, outputs) -> dict:
        """infra.alignment_health of the teacher-forced attention (decoder step x encoder step)."""
        return alignment_health(outputs.alignments, batch.input_lengths, batch.output_lengths)


class WaveGlowRecipe:
    """Mel -> audio flow on random segments; items are audio samples. DLE does not clip WaveGlow's
    gradients (its threshold is the float32 maximum): the norm is computed for the log only."""

    name = "WaveGlow"

    def config(self, args: argparse.Namespace) -> WaveGlowConfig:
        return WaveGlowConfig(
            n_mel_channels=args.n_mel_channels,
            n_flows=args.flows,
            n_group=args.groups,
            n_early_every=args.early_every,
            n_early_size=args.early_size,
            WN_config={
                "n_layers": args.wn_layers,
                "kernel_size": args.wn_kernel_size,
                "n_channels": args.wn_channels,
            },
        )

    def build_model(self, config: WaveGlowConfig, args: argparse.Namespace) -> WaveGlow:
        return WaveGlow(**config.to_dict())

    def loss(self, args: argparse.Namespace) -> WaveGlowLoss:
        return WaveGlowLoss(args.sigma)

    def clip_threshold(self, args: argparse.Namespace) -> float:
        return math.inf

    def datasets(self, args: argparse.Namespace):
        def segments(filelist):
            audio = audio_options(args)
            return AudioSegmentDataset(
                filelist, args.dataset_path, args.segment_length, **audio, seed=args.seed or 0
            )

        return segments(args.training_files), segments(args.validation_files), None

    def check_data(self, args: argparse.Namespace):
        """Every clip of both lists (the text is not used): readable, complete, at the rate, not silent."""
        lists = [args.training_files, args.validation_files]
        return check_data(lists, args.dataset_path, None, args.sampling_rate, args.filter_length)

    def set_epoch(self, dataset: AudioSegmentDataset, epoch: int) -> None:
        dataset.set_epoch(epoch)  # crops are drawn from (seed, epoch, item)

    def forward(self, model, batch, criterion, device: torch.device):
        mel, audio = (t.to(device, non_blocking=True) for t in batch)
        outputs = model(mel, audio)
        return {"loss": criterion(outputs)}, audio.numel(), outputs

    def validation_images(self, batch, outputs) -> dict:
        return {}

    def alignment_health(self, batch, outputs) -> dict:
        return {}  # no attention


RECIPES = {recipe.name: recipe for recipe in (Tacotron2Recipe(), WaveGlowRecipe())}
