"""control.py: the notebook's posterior mean, and the three procedures end to end on a tiny model."""

import json
from dataclasses import asdict

import pytest
import torch

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from flowtron import control
from flowtron.checkpoints import plain_checkpoint
from flowtron.config import ModelConfig
from flowtron.flowtron import Flowtron

pytestmark = pytest.mark.usefixtures("one_thread")


def test_posterior_mean_tiles_averages_and_shrinks():
    short, long = torch.ones(1, 2, 3), torch.full((1, 2, 8), 3.0)
    batch = control.posterior_mean([short, long], n_frames=5, mode="batch", lambda_=1.0)
    torch.testing.assert_close(batch, torch.full((1, 2, 5), 2.0 * 2 / 3))  # mean 2, shrunk by k/(k+lambda)
    pooled = control.posterior_mean([short, long], n_frames=5, mode="time_and_batch", lambda_=1e-4)
    torch.testing.assert_close(pooled, torch.full((1, 2, 1), (3 + 24) / 11 * (2e4 / (2e4 + 1))))


@pytest.mark.parametrize("command", ["posterior", "interpolate-seeds", "interpolate-speakers", "sigma"])
def test_procedures_write_one_wav_per_sample(tmp_path, command):
    config = ModelConfig(
        n_speakers=2, n_speaker_dim=4, n_text_dim=8, n_attn_channels=8, n_hidden=8, n_mel_channels=20
    )
    torch.manual_seed(0)
    torch.save(plain_checkpoint(Flowtron(**asdict(config)), config), tmp_path / "model.pt")
    corpus = write_synthetic_corpus(
        tmp_path / "corpus", make_synthetic_corpus(2, 0, min_frames=2, max_frames=3)
    )
    json_config = tmp_path / "config.json"
    json_config.write_text(
        json.dumps({"data_config": {"filter_length": 256, "win_length": 256, "p_arpabet": 0.0}})
    )
    common = [
        "-c",
        str(json_config),
        "-f",
        str(tmp_path / "model.pt"),
        "-t",
        "dean",
        "-n",
        "12",
        "-g",
        "2",
        "-o",
        str(tmp_path / "out"),
        "--cpu",
        "--griffin-lim-iters",
        "1",
    ]
    extra = {
        "posterior": ["--reference", str(corpus / "filelist.txt")],
        "interpolate-seeds": ["--seeds", "1", "2"],
        "interpolate-speakers": ["--speakers", "0", "1"],
        "sigma": ["--sigmas", "0", "1"],
    }[command]
    name = command.split("-")[0]
    steps = ["--steps", "3"] if name == "interpolate" else []
    assert control.main([name, *common, *steps, *extra]) == 0
    report = json.loads((tmp_path / "out" / "synthesis.json").read_text())
    expected = {"posterior": 2, "interpolate-seeds": 3, "interpolate-speakers": 3, "sigma": 2}[command]
    assert len(report) == expected and all(entry["frames"] == 12 for entry in report.values())
    assert len(list((tmp_path / "out").glob("*.wav"))) == expected
