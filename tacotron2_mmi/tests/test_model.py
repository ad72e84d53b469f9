"""The model, the MMI pieces and checkpoint loading on tiny random models (CPU, a second or so each)."""

import math
import warnings

import pytest
import torch

from tacotron2_mmi import gradient_adaptive_factor as gaf_lib
from tacotron2_mmi.checkpoints import load_tacotron2, plain_checkpoint, read_checkpoint, warm_start
from tacotron2_mmi.data import collate_text_mel, text_to_ids
from tacotron2_mmi.hparams import HParams, create_hparams
from tacotron2_mmi.infra import CheckpointError, UserError
from tacotron2_mmi.losses import Tacotron2MMILoss, frames_needed, mi_loss
from tacotron2_mmi.model import Tacotron2, drop_frames

TINY = dict(
    n_mel_channels=12,
    symbols_embedding_dim=16,
    encoder_embedding_dim=16,
    encoder_n_convolutions=2,
    attention_rnn_dim=20,
    attention_dim=8,
    attention_location_n_filters=4,
    attention_location_kernel_size=7,
    decoder_rnn_dim=24,
    prenet_dim=12,
    postnet_embedding_dim=16,
    postnet_n_convolutions=3,
    max_decoder_steps=20,
)
TEXTS = ["Dot and net.", "Hi {HH AH0 L OW1}, Mr. Lee!", "A cat."]

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(seed: int = 0, **overrides) -> Tacotron2:
    torch.manual_seed(seed)
    model = Tacotron2(HParams(**{**TINY, **overrides}))
    model.set_global_mean(torch.linspace(-6.0, -1.0, model.n_mel_channels))
    return model


def tiny_batch(texts=TEXTS, frames=(30, 41, 12), n_mel: int = 12, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    items = []
    for text, n_frames in zip(texts, frames):
        ids, ctc_ids = text_to_ids(text)
        items.append(
            (torch.tensor(ids), torch.tensor(ctc_ids), torch.randn(n_mel, n_frames, generator=generator) - 4)
        )
    return collate_text_mel(items)


def run(model, batch, **kwargs):
    return model(batch.text_padded, batch.input_lengths, batch.mel_padded, batch.output_lengths, **kwargs)


def without_dropout(model: Tacotron2) -> Tacotron2:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.decoder.p_attention_dropout = model.decoder.p_decoder_dropout = 0.0
    model.decoder.prenet.dropout = 0.0
    return model


@pytest.mark.parametrize("size", [1, 3])
def test_shapes_losses_and_gradients_at_batch_one_and_more(size):
    """Batch 1 crashed the original (`gate_output.squeeze()`); every parameter gets a gradient."""
    model = tiny_model().train()
    batch = tiny_batch(TEXTS[:size], (30, 41, 12)[:size])
    outputs = run(model, batch)
    frames, tokens = batch.mel_padded.size(2), batch.text_padded.size(1)
    assert outputs.decoder_outputs.shape == (size, 24, frames)
    assert outputs.mel_outputs.shape == outputs.mel_outputs_postnet.shape == (size, 12, frames)
    assert outputs.gate_outputs.shape == (size, frames) and outputs.alignments.shape == (size, frames, tokens)
    assert outputs.ctc_log_probs.shape == (size, frames, 138) and outputs.drop_mask.shape == (size, frames)
    taco, mi = Tacotron2MMILoss()(outputs, batch)
    (taco.taco_loss + 0.5 * mi.mi_loss).backward()
    assert math.isfinite(float(taco.taco_loss.detach())) and math.isfinite(float(mi.mi_loss.detach()))
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool(torch.isfinite(parameter.grad).all()), name
    assert float(model.mi.ctc_proj.linear_layer.weight.grad.abs().sum()) > 0


def test_padded_frames_are_masked():
    model = tiny_model().eval()
    batch = tiny_batch()
    with torch.no_grad():
        outputs = run(model, batch)
    for row, length in enumerate(batch.output_lengths.tolist()):
        assert bool((outputs.gate_outputs[row, length:] == 1000).all())
        assert bool((outputs.mel_outputs_postnet[row, :, length:] == 0).all())
        assert bool((outputs.decoder_outputs[row, :, length:] == 0).all())
    assert outputs.drop_mask is None  # no drop frames in eval mode


def test_drop_frames_replace_exactly_the_masked_frames():
    generator = torch.Generator().manual_seed(3)
    mels = torch.randn(4, 12, 300, generator=generator)
    lengths = torch.tensor([300, 250, 120, 7])
    mean = torch.randn(12, generator=generator)
    torch.manual_seed(0)
    dropped, mask = drop_frames(mels, lengths, mean, 0.2)
    valid = torch.arange(300) < lengths[:, None]
    assert bool((mask[~valid] == 0).all())  # padding is never dropped
    is_dropped = mask.bool()
    assert torch.equal(dropped.permute(0, 2, 1)[is_dropped], mean.expand(int(is_dropped.sum()), 12))
    assert torch.equal(dropped.permute(0, 2, 1)[~is_dropped], mels.permute(0, 2, 1)[~is_dropped])
    rate = float(mask.sum() / valid.sum())
    assert 0.17 < rate < 0.23, rate  # 677 valid frames at p = 0.2
    # In the model: the decoder is fed the dropped mels, the targets stay untouched.
    model = tiny_model().train()
    batch = tiny_batch()
    target = batch.mel_padded.clone()
    outputs = run(model, batch)
    assert torch.equal(batch.mel_padded, target) and outputs.drop_mask.sum() > 0


def test_drop_frames_need_the_global_mean():
    torch.manual_seed(0)
    model = Tacotron2(HParams(**TINY)).train()
    with pytest.raises(RuntimeError, match="set_global_mean"):
        run(model, tiny_batch())
    model.hparams = model.hparams.replace(drop_frame_rate=0.0)
    model.drop_frame_rate = 0.0
    assert run(model, tiny_batch()).drop_mask is None


def test_p_teacher_forcing():
    """p=0: every step after the first feeds back its own prediction, so the outputs no longer depend on
    the ground-truth frames; p=1 (the default) is plain teacher forcing; eval mode always teacher-forces."""
    batch, other = tiny_batch(), tiny_batch(seed=9)

    def mel(p: float, which, train: bool = True) -> torch.Tensor:
        model = without_dropout(tiny_model(p_teacher_forcing=p, drop_frame_rate=0.0)).train(train)
        with torch.no_grad():
            return run(model, which).mel_outputs

    assert torch.equal(mel(0.0, batch), mel(0.0, other))
    assert not torch.allclose(mel(1.0, batch), mel(1.0, other))
    assert not torch.allclose(mel(0.0, batch, train=False), mel(0.0, other, train=False))
    # p = 0 teacher-forced training equals greedy decoding of the same length.
    model = without_dropout(tiny_model(p_teacher_forcing=0.0, drop_frame_rate=0.0)).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tacotron2: reached max_decoder_steps")
        memory = model.encode(batch.text_padded[:1, : int(batch.input_lengths[0])])
        greedy = model.decoder.infer(memory, max_decoder_steps=batch.mel_padded.size(2), gate_threshold=2.0)
        forced = model.decoder.train()(memory, batch.mel_padded[:1], None)
    torch.testing.assert_close(forced.mel_outputs, greedy.mel_outputs, atol=1e-5, rtol=1e-5)


def test_ctc_with_too_few_frames_is_finite_and_counted():
    generator = torch.Generator().manual_seed(0)
    log_probs = torch.randn(2, 6, 138, generator=generator).log_softmax(-1).requires_grad_()
    targets = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0], [5, 5, 5, 5, 6, 7, 8, 9]])
    target_lengths = torch.tensor([3, 8])
    assert frames_needed(targets, target_lengths).tolist() == [3, 11]
    terms = mi_loss(log_probs, targets, target_lengths, torch.tensor([6, 6]))
    assert int(terms.mi_infeasible) == 1 and float(terms.ctc_per_utterance[1].detach()) == 0.0
    terms.mi_loss.backward()
    assert math.isfinite(float(terms.mi_loss.detach())) and bool(torch.isfinite(log_probs.grad).all())


def test_gaf_is_finite_capped_and_its_combined_gradient_is_the_total_gradient():
    model = tiny_model().train()
    names, parameters = zip(*model.named_parameters())
    torch.manual_seed(5)
    taco, mi = Tacotron2MMILoss()(run(model, tiny_batch()), tiny_batch())
    taco_gradients = gaf_lib.loss_gradients(taco.taco_loss, parameters, retain_graph=True)
    mi_gradients = gaf_lib.loss_gradients(mi.mi_loss, parameters, retain_graph=True)
    raw = gaf_lib.raw_factor(taco_gradients, mi_gradients, names, gaf_lib.batchnorm_conv_biases(model))
    assert math.isfinite(raw.value) and raw.value > 0 and raw.argmin is not None
    capped = gaf_lib.GradientAdaptiveFactor(max_gaf=raw.value / 2, every=10, excluded=set())
    assert capped.update(raw) == raw.value / 2
    factor = gaf_lib.GradientAdaptiveFactor(max_gaf=1e9, every=10, excluded=set()).update(raw)
    assert factor == raw.value
    combined = gaf_lib.combined_gradients(taco_gradients, mi_gradients, factor, parameters)
    gaf_lib.gradient_loss(parameters, combined).backward()
    via_surrogate = [p.grad.clone() for p in parameters]
    model.zero_grad()
    (taco.taco_loss + factor * mi.mi_loss).backward()
    for name, parameter, gradient in zip(names, parameters, via_surrogate):
        torch.testing.assert_close(gradient, parameter.grad, atol=1e-6, rtol=1e-5, msg=name)
    # A non-finite measurement (an fp16 overflow) keeps the previous value.
    assert capped.update(gaf_lib.RawFactor(math.nan, None, 0)) == raw.value / 2


def test_batch_one_decoding_layout_changes_rounding_only():
    """Greedy decoding of one utterance without gradients multiplies by column-major copies of the large
    step matrices (`Decoder.step_matrices`); with gradients enabled it uses the parameters themselves."""
    model = tiny_model().eval()
    matrices = model.decoder.step_matrices()
    assert matrices.decoder_hh.stride() == (1, matrices.decoder_hh.size(0))
    assert torch.equal(matrices.decoder_hh, model.decoder.decoder_rnn.weight_hh)
    text = torch.tensor([text_to_ids(TEXTS[1])[0]])
    results = []
    for grad_enabled in (False, True):
        torch.manual_seed(7)  # the prenet's dropout draws the same masks in both runs
        with torch.set_grad_enabled(grad_enabled), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Tacotron2: reached max_decoder_steps")
            results.append(model.infer(text, gate_threshold=2.0))
    column_major, parameters = results
    torch.testing.assert_close(column_major.mel_outputs_postnet, parameters.mel_outputs_postnet.detach())
    torch.testing.assert_close(column_major.alignments, parameters.alignments.detach())


def test_batchnorm_conv_biases_are_the_encoder_and_postnet_ones():
    names = gaf_lib.batchnorm_conv_biases(Tacotron2(HParams()))
    assert names == {f"encoder.convolutions.{i}.0.conv.bias" for i in range(3)} | {
        f"postnet.convolutions.{i}.0.conv.bias" for i in range(5)
    }


def nvidia_layout(model: Tacotron2) -> dict:
    """The state dict NVIDIA/tacotron2 would have at these sizes: one Linear [hidden; context] -> mel and
    the gate on the same input; no mel_layer, no MI head."""
    state = {
        k: v
        for k, v in model.state_dict().items()
        if not k.startswith(
            ("decoder.linear_projection.", "decoder.mel_layer.", "decoder.gate_layer.", "mi.")
        )
    }
    width = model.hparams.decoder_rnn_dim + model.hparams.encoder_embedding_dim
    state["decoder.linear_projection.linear_layer.weight"] = torch.randn(model.n_mel_channels, width)
    state["decoder.linear_projection.linear_layer.bias"] = torch.randn(model.n_mel_channels)
    state["decoder.gate_layer.linear_layer.weight"] = torch.randn(1, width)
    state["decoder.gate_layer.linear_layer.bias"] = torch.randn(1)
    return state


def test_nvidia_tacotron2_warm_starts_with_the_new_layers_fresh(tmp_path, capsys):
    source = tiny_model(seed=1)
    path = tmp_path / "tacotron2_statedict.pt"  # NVIDIA's files are in PyTorch's legacy format
    state = nvidia_layout(source)
    torch.save(
        {"state_dict": state, "iteration": 7, "learning_rate": 1e-3},
        path,
        _use_new_zipfile_serialization=False,
    )
    model = tiny_model(seed=2)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = warm_start(model, path, ["embedding.weight"])
    after = model.state_dict()
    assert {name for name in report.fresh if not name.startswith(("decoder.mel_layer.", "mi."))} == {
        "embedding.weight",
        "decoder.linear_projection.0.linear_layer.weight",
        "decoder.linear_projection.0.linear_layer.bias",
        "decoder.gate_layer.linear_layer.weight",
    }
    for name in report.fresh:
        assert torch.equal(after[name], fresh[name]), name
    for name in report.loaded:
        assert torch.equal(after[name], state[name]), name
    assert "decoder.gate_layer.linear_layer.bias" in report.loaded  # same shape in both layouts
    assert set(report.unused) == {
        "embedding.weight",
        "decoder.linear_projection.linear_layer.weight",
        "decoder.linear_projection.linear_layer.bias",
        "decoder.gate_layer.linear_layer.weight",
    }
    assert "warm start from" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="--warm_start"):
        load_tacotron2(path)


def test_plain_checkpoint_round_trip_keeps_the_global_mean(tmp_path):
    model = tiny_model()
    model.global_mean_source = {"filelist": "x.txt"}
    torch.save(plain_checkpoint(model), tmp_path / "plain.pt")
    loaded = load_tacotron2(tmp_path / "plain.pt")
    assert torch.equal(loaded.global_mean, model.global_mean) and loaded.global_mean_source == {
        "filelist": "x.txt"
    }
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name])
    # The original's checkpoint (no hparams): sizes from the shapes, use_mmi from the mi.* keys.
    torch.save(
        {"iteration": 3, "state_dict": model.state_dict(), "optimizer": {}, "learning_rate": 1e-3},
        tmp_path / "checkpoint_3",
    )
    found = read_checkpoint(tmp_path / "checkpoint_3")
    assert found.source_format == "original" and found.hparams.decoder_rnn_dim == 24 and found.hparams.use_mmi
    without_mi = {k: v for k, v in model.state_dict().items() if not k.startswith("mi.")}
    assert read_checkpoint(without_mi).hparams.use_mmi is False
    broken = dict(model.state_dict())
    broken["decoder.mel_layer.3.linear_layer.bias"] = torch.full((12,), math.nan)
    with pytest.raises(CheckpointError, match="mel_layer.3.linear_layer.bias"):
        load_tacotron2(broken)
    with pytest.raises(CheckpointError, match="WaveGlow"):
        load_tacotron2({"WN.0.start.weight": torch.zeros(1)})


def test_hparams_string():
    hparams = create_hparams(
        "batch_size=16, use_gaf=false,ignore_layers=[embedding.weight,mi.proj.0.linear_layer.weight],"
        "max_gaf=1,global_mean_npy=mean.pt"
    )
    assert hparams.batch_size == 16 and hparams.use_gaf is False and hparams.max_gaf == 1.0
    assert hparams.ignore_layers == ["embedding.weight", "mi.proj.0.linear_layer.weight"]
    assert hparams.global_mean_npy == "mean.pt" and create_hparams(
        "text_cleaners=['basic_cleaners']"
    ).text_cleaners == ["basic_cleaners"]
    for bad, message in (
        ("batch_sise=3", "unknown name"),
        ("learning_rate=fast", "not a number"),
        ("use_mmi=maybe", "boolean"),
        ("n_frames_per_step=2", "only 1"),
        ("drop_frame_rate=1.5", r"\[0, 1\)"),
        ("batch_size", "name=value"),
    ):
        with pytest.raises(UserError, match=message):
            create_hparams(bad)
