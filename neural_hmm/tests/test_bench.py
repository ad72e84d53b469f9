"""bench.py's command line refuses a comparison without the original to compare with."""

import pytest

from neural_hmm import bench


def test_side_by_side_needs_the_original(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--side-by-side", "--skip-training", "--synthesis-runs", "0"])
    assert "--side-by-side needs --original" in capsys.readouterr().err
