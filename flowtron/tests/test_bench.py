"""bench.py at a tiny size: ours alone (no original needed), and the side-by-side path against a stand-in
"original" checkout, so that the comparison's plumbing (weights shared, speed-up, mel difference) runs
here too. The stand-in is our own model under the original's module name; it is not the original."""

import json
import sys

import pytest
import torch

from flowtron import bench
from flowtron import flowtron as our_flowtron
from flowtron import losses as our_losses

pytestmark = pytest.mark.usefixtures("one_thread")
TINY_RUN = ["--tiny", "--tokens", "6", "--frames", "16", "--warmup", "0", "--repeats", "2"]

STAND_IN = '''
import sys

_model, _losses = sys.modules["_bench_test_model"], sys.modules["_bench_test_losses"]
Flowtron = _model.Flowtron


class FlowtronLoss:
    """The original's call convention: a plain tuple of outputs in, (nll, gate, ctc) out."""

    def __init__(self, *args):
        self.inner = _losses.FlowtronLoss(*args)

    def __call__(self, outputs, gate, in_lens, out_lens):
        return tuple(self.inner(_model.FlowtronOutput(*outputs), gate, in_lens, out_lens))
'''


def test_tiny_bench_of_ours_alone_writes_its_report(tmp_path, capsys):
    assert bench.main([*TINY_RUN, "--out", str(tmp_path / "bench.json")]) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "bench.json").read_text())
    assert set(report["inference"]) == {"ours"} and set(report["training_step"]) == {"ours"}
    assert len(report["inference"]["ours"]["all_seconds"]) == 2 and report["inference"]["ours"]["seconds"] > 0
    assert report["training_step"]["ours"]["seconds"] > 0 and report["model_config"]["n_hidden"] == 16


def test_side_by_side_with_a_stand_in_original(tmp_path, monkeypatch, capsys):
    # bench points torch.cuda's tensor constructors at CPU ones for the original: restored afterwards
    monkeypatch.setattr(torch.cuda, "FloatTensor", torch.cuda.FloatTensor)
    monkeypatch.setattr(torch.cuda, "LongTensor", torch.cuda.LongTensor)
    monkeypatch.setitem(sys.modules, "_bench_test_model", our_flowtron)
    monkeypatch.setitem(sys.modules, "_bench_test_losses", our_losses)
    (tmp_path / "checkout").mkdir()
    (tmp_path / "checkout" / "flowtron.py").write_text(STAND_IN)
    argv = [*TINY_RUN, "--original-path", str(tmp_path / "checkout"), "--out", str(tmp_path / "b.json")]
    assert bench.main(argv) == 0, capsys.readouterr().err
    assert sys.modules["flowtron"].__file__.endswith("__init__.py")  # our package is back in place
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["inference"]["max_abs_mel_difference"] == 0.0  # the same weights reached the stand-in
    assert report["inference"]["speedup"] > 0 and report["training_step"]["speedup"] > 0


def test_an_original_path_without_flowtron_py_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no flowtron.py there"):
        bench.main([*TINY_RUN, "--original-path", str(tmp_path)])
