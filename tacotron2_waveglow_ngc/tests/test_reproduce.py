"""reproduce.py turns the JSON-lines training log into the NGC README tables."""

import json

import pytest

from tacotron2_waveglow_ngc import reproduce
from tacotron2_waveglow_ngc.infra import RunLog, UserError


def write_log(folder, model_name, epoch_losses, throughput, world_size=1):
    log = RunLog(folder / "nvlog.json")
    parameters = {"model_name": f"{model_name}_PyT", "world_size": world_size, "amp": False, "batch_size": 48}
    log.record("PARAMETER", parameters, kind="METADATA")
    for epoch, loss in enumerate(epoch_losses):
        log.record([epoch, epoch * 10], {"train_loss": loss + 1.0, "train_iter_items/sec": 1.0})
        log.record([epoch], {"train_loss": loss, "train_epoch_items/sec": throughput, "val_loss": loss})
    log.close()
    return folder / "nvlog.json"


def test_tables_put_our_losses_at_the_published_epochs(tmp_path):
    losses = [10.0 / (epoch + 1) for epoch in range(1000)]
    path = write_log(tmp_path, "Tacotron2", losses, throughput=1234.0)
    markdown = reproduce.report({"Tacotron2": path, "WaveGlow": None})
    ours = next(line for line in markdown.splitlines() if line.startswith("| ours, FP32"))
    # epoch 1 of the README is train.py's epoch 0, epoch 250 its epoch 249, ...
    assert ours.split("|")[2].strip() == "10" and ours.split("|")[3].strip() == "0.04"
    throughput = next(line for line in markdown.splitlines() if line.startswith("| ours, 1 process"))
    assert "1,234" in throughput and "| NGC, V100, FP32, bs48 | 9,174 |" in markdown
    assert "### WaveGlow: training loss" in markdown and "-6.1087" in markdown


def test_short_runs_leave_missing_epochs_empty_and_dllogger_prefix_is_accepted(tmp_path):
    path = write_log(tmp_path, "WaveGlow", [-1.0, -2.0], throughput=5e4, world_size=8)
    prefixed = tmp_path / "dle.json"
    prefixed.write_text("".join(f"DLLL {line}\n" for line in path.read_text().splitlines()))
    markdown = reproduce.report({"Tacotron2": None, "WaveGlow": prefixed})
    ours = next(line for line in markdown.splitlines() if line.startswith("| ours, FP32"))
    assert ours.count("–") == 4 and "| -1 |" in ours
    assert "| ours, 8 process(es), bs48 | – | – | 50,000 |" in markdown


def test_wrong_model_and_broken_lines_are_named(tmp_path):
    path = write_log(tmp_path, "WaveGlow", [-1.0], throughput=1.0)
    with pytest.raises(ValueError, match="is a WaveGlow log, given as Tacotron2"):
        reproduce.report({"Tacotron2": path, "WaveGlow": None})
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"step": "PARAMETER", "data": {}}) + "\n{not json\n")
    with pytest.raises(UserError, match=r"broken.json:2: not a JSON record"):
        reproduce.read_log(broken)
