"""A synthetic tone corpus and a tiny configuration shared by the training, inference and command tests."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def tiny_config(**train) -> dict:
    """configs/tiny.json made smaller still (latent 16, narrow discriminator), on phonemes without blanks
    (the tone corpus's characters are VITS symbols; its durations are per character)."""
    config = json.loads((CONFIGS / "tiny.json").read_text())
    width = 16
    models = config["models"]
    models["phoneme_encoder"].update(
        out_channels=width, hidden_channels=width, filter_channels=32, n_layers=1
    )
    models["decoder"].update(
        initial_channel=width,
        upsample_initial_channel=16,
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
    )
    models["posterior_encoder"].update(out_channels=width, hidden_channels=16, n_layers=2)
    models["flow"].update(channels=width, hidden_channels=16, n_layers=1)
    models["duration_predictor"].update(in_channels=width, filter_channels=16)
    models["learnable_upsampling"].update(d_predictor=width, conv_output_size=4)
    models["memory_bank"].update(bank_size=8, n_hidden_dims=width)
    models["discriminator"] = {"width_divisor": 32}
    config["data"].update(cleaned_text=True, add_blank=False, durations_dir=None)
    config["train"].update(
        batch_size=2,
        segment_size=1024,
        bucket_boundaries=[0, 100000],
        log_interval=2,
        eval_interval=1000,
        eval_utterances=1,
        num_workers=0,
        use_mas=False,
    )
    config["train"].update(train)
    return config


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """10 short tone utterances: train.txt (8), val.txt (2), four.txt (the first four), one_repeated.txt
    (the first, four times: every batch is the same), and durations/<wav name>.npy in the original's
    naming."""
    root = tmp_path_factory.mktemp("ns_corpus")
    synthetic = make_synthetic_corpus(
        n_utterances=10, seed=0, min_frames=3, max_frames=6, n_words=(1, 2), word_length=(2, 3)
    )
    write_synthetic_corpus(root, synthetic)
    (root / "ours").mkdir()
    for utterance in synthetic.utterances:
        # The corpus counts centred STFT frames (1 + samples // hop); VITS' uncentred STFT has one fewer.
        durations = utterance.durations.astype(np.int64)
        durations[-1] -= 1
        np.save(root / "ours" / f"{utterance.utterance_id}.wav.npy", durations)
    shutil.rmtree(root / "durations")
    (root / "ours").rename(root / "durations")
    lines = (root / "filelist.txt").read_text().splitlines(keepends=True)
    (root / "train.txt").write_text("".join(lines[:8]))
    (root / "val.txt").write_text("".join(lines[8:]))
    (root / "four.txt").write_text("".join(lines[:4]))
    (root / "one_repeated.txt").write_text(lines[0] * 4)
    (root / "tiny.json").write_text(json.dumps(tiny_config()))
    return root
