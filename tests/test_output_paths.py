"""Every command that writes files names an output path it cannot write, in one line, before any work:
a regular file where a folder should be, or a folder that cannot be created."""

import pytest

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write_synthetic_corpus(root, make_synthetic_corpus(n_utterances=2, seed=0, min_frames=2, max_frames=3,
                                                       n_words=(1, 1), word_length=(2, 3)))  # fmt: skip
    return root


def commands(corpus, blocked):
    """(name, main function, argv) of every writing command, each told to write below `blocked`."""
    from neural_hmm import convert_checkpoint as nh_convert
    from neural_hmm import generate_data_properties, synthesis
    from neural_hmm import train as nh_train
    from tacotron2_waveglow_ngc import convert_checkpoint as t2_convert
    from tacotron2_waveglow_ngc import export_vocoder, inference, prepare_mels
    from tacotron2_waveglow_ngc import train as t2_train

    lists = [
        "--training-files",
        str(corpus / "filelist.txt"),
        "--validation-files",
        str(corpus / "filelist.txt"),
    ]
    somewhere = str(blocked / "out")
    t2_train_argv = [
        "-m",
        "Tacotron2",
        "-o",
        somewhere,
        "-lr",
        "1e-3",
        "-bs",
        "1",
        "--epochs",
        "1",
        "--device",
        "cpu",
    ]
    mels_argv = ["-d", str(corpus), "--filelists", str(corpus / "filelist.txt"), "--output-dir", somewhere]
    return [
        ("neural_hmm train.py", nh_train.main, ["-o", somewhere, "--device", "cpu", *lists]),
        ("neural_hmm synthesis.py", synthesis.main, ["--checkpoint", "x", "--text", "a", "-o", somewhere]),
        ("neural_hmm convert_checkpoint.py", nh_convert.main, ["in.ckpt", str(blocked / "out.pt")]),
        ("neural_hmm generate_data_properties.py", generate_data_properties.main,
         ["--training-files", str(corpus / "filelist.txt"), "-o", str(blocked / "stats.pt")]),
        ("tacotron2 train.py", t2_train.main, [*t2_train_argv, *lists]),
        ("tacotron2 inference.py", inference.main, ["--tacotron2", "x.pt", "--text", "a", "-o", somewhere]),
        ("tacotron2 convert_checkpoint", t2_convert.main, ["in.pt", str(blocked / "o.pt"), "-m", "WaveGlow"]),
        ("tacotron2 export_vocoder", export_vocoder.main, ["--waveglow", "in.pt", "-o", str(blocked / "v")]),
        ("tacotron2 prepare_mels.py", prepare_mels.main, mels_argv),
    ]  # fmt: skip


@pytest.mark.parametrize("index", range(9))
def test_an_unwritable_output_is_named_before_any_work(corpus, tmp_path, capsys, index):
    blocked = tmp_path / "a_file"
    blocked.write_text("a file where a folder is expected\n")
    name, main, argv = commands(corpus, blocked)[index]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, (name, err)
    assert str(blocked) in err and "is a file, not a folder" in err, (name, err)
    assert "Traceback" not in err
