"""bench.py runs end to end at a tiny size and writes the JSON report."""

import json

import pytest
import torch

from tacotron2_waveglow_ngc import bench
from tacotron2_waveglow_ngc.fast_inference import Int8LSTMCell, prepare_tacotron2


@pytest.mark.slow
def test_bench_tiny_writes_json(tmp_path):
    argv = [
        "--tiny",
        "--variants",
        "fp32,bf16,int8",
        "--frames",
        "12",
        "--tokens",
        "10",
        "--repeats",
        "1",
        "--waveglow-frames",
        "5",
    ]
    argv += [
        "--train-repeats",
        "1",
        "--train-batch-size",
        "2",
        "--segment-length",
        "1024",
        "-o",
        str(tmp_path / "b.json"),
    ]
    threads = torch.get_num_threads()
    try:
        bench.main(argv)
    finally:
        torch.set_num_threads(threads)
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["threads"] == 1
    assert set(report["tacotron2_inference"]) == {"ours_fp32", "ours_bf16", "ours_int8"}
    assert report["tacotron2_inference"]["ours_fp32"]["frames"] == 12
    assert report["tacotron2_inference"]["ours_fp32"]["tokens_per_sec"] > 0
    assert set(report["tacotron2_quality_vs_fp32"]) == {"bf16", "int8"}
    assert report["waveglow_inference"]["ours_fp32"]["samples"] == 5 * 256
    assert report["end_to_end"]["ours_fp32"]["rtf_with_denoiser"] > 0
    assert set(report["waveglow_quality_vs_fp32"]) == {"bf16"}
    assert report["tacotron2_training_step"]["ours"]["seconds"] > 0
    assert report["waveglow_training_step"]["ours"]["seconds"] > 0


def test_bench_rejects_unknown_variant():
    with pytest.raises(SystemExit):
        bench.parse_args(["--variants", "fp8"])


def test_int8_variant_quantises_a_copy():
    model = bench.Tacotron2(bench.Tacotron2Config(**bench.TINY_TACOTRON2)).eval()
    quantised = prepare_tacotron2(model, "int8")
    assert type(model.decoder.attention_rnn) is torch.nn.LSTMCell
    assert isinstance(quantised.decoder.attention_rnn, Int8LSTMCell)
    assert isinstance(quantised.decoder.decoder_rnn, Int8LSTMCell)
    assert prepare_tacotron2(model, "fp32") is model
