"""bench.py at a tiny size: ours alone, and side by side with stand-ins for the two originals (written to
tmp_path in their module layout), so that the comparison's plumbing runs here: the same weights and noise
reach both sides, outputs are compared, ratios reported. The stand-ins wrap our own code with the
originals' call conventions (the soft-DTW and the search through our pure-PyTorch twins); they are not
the originals."""

import json
import sys

import pytest

from naturalspeech import bench

pytestmark = pytest.mark.usefixtures("one_thread")
TINY_RUN = ["--tiny", "--warmup", "1", "--repeats", "1"]

STAND_IN = {
    "models/__init__.py": "",
    "models/models.py": '''
from naturalspeech import models as ours


class SynthesizerTrn(ours.SynthesizerTrn):
    """The original's constructor (hparams object), outputs as plain tuples."""

    def __init__(self, n_vocab, spec_channels, segment_size, hps_models, **kwargs):
        super().__init__(n_vocab, spec_channels, segment_size, dict(hps_models))

    def forward(self, x, x_lengths, y, y_lengths, d=None, use_gt_duration=True):
        o = super().forward(x, x_lengths, y, y_lengths, d=d, use_gt_duration=use_gt_duration)
        latents = (o.z, o.z_p, o.m_p, o.logs_p, o.m_q, o.logs_q, o.p_mask)
        return (o.y_hat, o.l_length, o.ids_slice, o.x_mask, o.z_mask, latents, o.W, o.y_hat_e2e, o.z_q, o.d,
                o.ids_slice_q)

    def infer(self, x, x_lengths, noise_scale=1, length_scale=1, max_len=None, d=None):
        o = super().infer(x, x_lengths, noise_scale, length_scale, max_len, d)
        return o.audio, o.y_mask, (o.z, o.z_p, o.m_p, o.logs_p)

    def attach_memory_bank(self, hps_models):
        super().attach_memory_bank()


class MultiPeriodDiscriminator(ours.MultiPeriodDiscriminator):
    def __init__(self, use_spectral_norm=False):
        super().__init__(width_divisor=16)  # as narrow as bench's tiny one
''',
    "models/losses.py": (
        "from naturalspeech.losses import discriminator_loss, feature_loss, generator_loss, kl_loss\n"
    ),
    "models/soft_dtw.py": """
from naturalspeech.soft_dtw import soft_dtw


class SoftDTW:
    def __init__(self, gamma=1.0, use_cuda=True, normalize=False, bandwidth=None, warp=0.07):
        self.gamma, self.warp = gamma, warp

    def __call__(self, D):
        return soft_dtw(D, gamma=self.gamma, warp=self.warp, backend="torch")
""",
    "utils/__init__.py": "",
    "utils/commons.py": """
import torch

from naturalspeech.commons import slice_segments


def clip_grad_value_(parameters, clip_value, norm_type=2):
    return float(torch.nn.utils.clip_grad_norm_(list(parameters), float("inf")))
""",
    "utils/mel_processing.py": (
        "from naturalspeech.mel_processing import mel_spectrogram_torch, spec_to_mel_torch\n"
    ),
    "utils/utils.py": """
class HParams(dict):
    __getattr__ = dict.__getitem__
""",
}
VITS_STAND_IN = """
from naturalspeech.monotonic_align import maximum_path as search


def maximum_path(neg_cent, mask):
    return search(neg_cent, mask, backend="torch")
"""


def write_stand_ins(root):
    for name, text in STAND_IN.items():
        (root / "original" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "original" / name).write_text(text)
    (root / "vits" / "monotonic_align").mkdir(parents=True)
    (root / "vits" / "monotonic_align" / "__init__.py").write_text(VITS_STAND_IN)
    return ["--original-path", str(root / "original"), "--vits-path", str(root / "vits")]


def test_tiny_bench_of_ours_alone_writes_its_report_and_table(tmp_path, capsys):
    assert bench.main([*TINY_RUN, "--out", str(tmp_path / "bench.json")]) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "bench.json").read_text())
    assert list(report["sections"]) == list(bench.SECTIONS) and report["threads"] == 1
    for name, section in report["sections"].items():
        assert section["ours"]["seconds"] > 0 and "original" not in section and "speedup" not in section, name
    assert 0 < report["sections"]["inference"]["ours"]["rtf"] < 100
    assert report["sections"]["soft_dtw"]["shape"] == "2x20x21 and 2x21x20"  # prior lengths differ
    out = capsys.readouterr().out
    assert "| section | shape | ours | original | original / ours: wall | CPU | target | check |" in out
    assert out.count("\n| ") == 5 and "load average" in out


def test_side_by_side_with_stand_in_originals(tmp_path, capsys):
    before = {name for name in sys.modules if name.split(".")[0] in ("models", "utils", "monotonic_align")}
    argv = [*TINY_RUN, *write_stand_ins(tmp_path), "--out", str(tmp_path / "b.json")]
    assert bench.main(argv) == 0, capsys.readouterr().err
    after = {name for name in sys.modules if name.split(".")[0] in ("models", "utils", "monotonic_align")}
    assert after == before  # the stand-ins' top-level packages did not stay importable by those names
    sections = json.loads((tmp_path / "b.json").read_text())["sections"]
    for name, section in sections.items():
        assert section["speedup"] == pytest.approx(
            section["original"]["seconds"] / section["ours"]["seconds"]
        )
        assert section["met"] == (section["speedup"] >= bench.TARGETS[name])
    # The Cython soft-DTW against the stand-in's pure-PyTorch twin: the same numbers (gradients of a few
    # per cent of cells are 1 and others 0, so a wrong alignment would show as a difference of 1).
    assert sections["soft_dtw"]["check"]["max_abs_value_difference"] <= 1e-2
    assert sections["soft_dtw"]["check"]["max_abs_grad_difference"] <= 1e-4
    assert sections["mas"]["check"] == {"differing_path_cells": 0}
    assert sections["inference"]["check"]["max_abs_audio_difference"] == 0  # same weights, same noise
    losses = sections["train_step"]["first_losses"]
    assert losses["original"]["loss_g"] == pytest.approx(losses["ours"]["loss_g"], rel=1e-5)
    assert losses["original"]["loss_d"] == pytest.approx(losses["ours"]["loss_d"], rel=1e-5)
    assert "x |" in capsys.readouterr().out  # ratios in the table


@pytest.mark.parametrize(
    "flag, message", [("--original-path", "no models/models.py there"), ("--vits-path", "no monotonic_align")]
)
def test_a_checkout_without_the_expected_files_is_refused(tmp_path, capsys, flag, message):
    assert bench.main([*TINY_RUN, "--sections", "mas", flag, str(tmp_path)]) == 1
    assert message in capsys.readouterr().err
