"""From speech recordings to synthesised WAVs: the tiny embedded corpus (filelists.demo_corpus, 12 short
sentences read by flite or eSpeak NG), checked as `filelists.validate --model tacotron2_mmi` checks it,
trained by train.py for a few updates with MMI, drop frames and the GAF on, then inference.py on its test
sentences (a few seconds on one thread)."""

import json

import pytest
import soundfile

from filelists.checks import check_model_data
from tacotron2_mmi import inference, train
from tacotron2_mmi.checkpoints import read_training_checkpoint

TINY = (
    "n_mel_channels=40,symbols_embedding_dim=16,encoder_embedding_dim=16,encoder_n_convolutions=1,"
    "attention_rnn_dim=24,attention_dim=8,attention_location_n_filters=4,attention_location_kernel_size=7,"
    "decoder_rnn_dim=24,prenet_dim=12,postnet_embedding_dim=16,postnet_n_convolutions=2,batch_size=2,"
    "num_workers=0,iters_per_checkpoint=2"
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from filelists.demo_corpus import DemoCorpusError, build_demo_corpus

    try:
        return build_demo_corpus(
            tmp_path_factory.mktemp("demo_corpus"), size="tiny", voice="auto", install=False, progress=False
        )
    except DemoCorpusError as error:
        pytest.skip(f"no demo corpus voice here: {error}")


def test_tiny_corpus_trains_and_synthesises(corpus, tmp_path):
    lists = [corpus / "train.txt", corpus / "val.txt"]
    assert not check_model_data(lists, "tacotron2_mmi").errors  # what training will check again
    run = tmp_path / "run"
    argv = ["-o", str(run), "--device", "cpu", "--training-files", str(lists[0]), "--validation-files",
            str(lists[1]), "--max-steps", "3", "--seed", "1", "--hparams", TINY]  # fmt: skip
    assert train.main(argv) == 0
    checkpoint = read_training_checkpoint(run / "checkpoint_last")
    assert checkpoint["iteration"] == 2 and checkpoint["global_mean"].shape == (40,)
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r["data"] for r in records if isinstance(r["step"], int) and "mi_loss" in r["data"]]
    assert len(steps) == 3 and all(0 < s["gaf"] <= 0.5 for s in steps)

    wavs = tmp_path / "wavs"
    argv = ["--checkpoint", str(run / "checkpoint_last"), "-i", str(corpus / "test.txt"), "-o", str(wavs),
            "--device", "cpu", "--max-decoder-steps", "40", "--griffin-lim-iters", "2"]  # fmt: skip
    assert inference.main(argv) == 0
    stems = [
        line.split("|")[0].rsplit("/", 1)[-1][:-4] for line in (corpus / "test.txt").read_text().splitlines()
    ]
    report = json.loads((wavs / "synthesis.json").read_text())
    timings = json.loads((wavs / "timings.json").read_text())
    for stem in stems:
        info = soundfile.info(wavs / f"{stem}.wav")
        assert info.subtype == "PCM_16" and info.samplerate == 22050 and info.frames > 0
        assert (wavs / f"{stem}.png").stat().st_size > 1000
        assert timings[stem] > 0 and 0 < report[stem]["frames"] <= 40
