"""Structure, shapes, gradients and stopping of the Tacotron 2 model on tiny configs."""

import json
import warnings
from pathlib import Path

import pytest
import torch

from tacotron2_waveglow_ngc.audio import TacotronSTFT
from tacotron2_waveglow_ngc.config import Tacotron2Config
from tacotron2_waveglow_ngc.losses import Tacotron2Loss, guided_attention_loss
from tacotron2_waveglow_ngc.tacotron2_model import Tacotron2

TINY = dict(
    n_mel_channels=10,
    n_symbols=20,
    symbols_embedding_dim=16,
    encoder_embedding_dim=16,
    attention_rnn_dim=24,
    attention_dim=8,
    attention_location_n_filters=4,
    attention_location_kernel_size=7,
    decoder_rnn_dim=24,
    prenet_dim=12,
    postnet_embedding_dim=16,
    max_decoder_steps=20,
)


def tiny_model(device, **overrides) -> Tacotron2:
    torch.manual_seed(0)
    return Tacotron2(Tacotron2Config(**{**TINY, **overrides})).to(device)


def tiny_batch(device, batch_size: int, n_frames: int = 9):
    generator = torch.Generator().manual_seed(1)
    input_lengths = torch.tensor([11, 7, 5, 9][:batch_size])
    text = torch.randint(1, TINY["n_symbols"], (batch_size, int(input_lengths.max())), generator=generator)
    text = text.masked_fill(torch.arange(text.size(1)) >= input_lengths[:, None], 0)
    output_lengths = torch.tensor([n_frames, n_frames - 2, n_frames - 4, n_frames - 1][:batch_size])
    mel = torch.randn(batch_size, TINY["n_mel_channels"], n_frames, generator=generator)
    frame_is_pad = torch.arange(n_frames) >= output_lengths[:, None]
    mel = mel.masked_fill(frame_is_pad[:, None], 0.0)
    gate = (torch.arange(n_frames) >= output_lengths[:, None] - 1).float()
    return [t.to(device) for t in (text, input_lengths, mel, gate, output_lengths)]


def reference_tacotron2_entries() -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, dtype) from `fixtures/reference_state_dicts.json` (see `fixtures/README.md`)."""
    entries = json.loads((Path(__file__).parent / "fixtures" / "reference_state_dicts.json").read_text())
    return [(name, tuple(shape), dtype) for name, shape, dtype in entries["tacotron2"]]


@pytest.fixture(scope="module")
def default_model():
    return Tacotron2(Tacotron2Config())


def test_default_state_dict_matches_reference(default_model):
    expected = reference_tacotron2_entries()
    assert len(expected) == 84
    actual = [
        (name, tuple(tensor.shape), str(tensor.dtype).removeprefix("torch."))
        for name, tensor in default_model.state_dict().items()
    ]
    assert sorted(actual) == sorted(expected)


def test_default_parameter_count(default_model):
    assert sum(p.numel() for p in default_model.parameters()) == 28_193_153


def test_default_config_is_dle():
    config = Tacotron2Config()
    assert (config.n_symbols, config.symbols_embedding_dim, config.max_decoder_steps) == (148, 512, 2000)
    assert config.mask_padding is False and config.decoder_no_early_stopping is False
    assert Tacotron2Config.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="encoder_dim"):
        Tacotron2Config.from_dict({"encoder_dim": 3})


@pytest.mark.parametrize("batch_size", [1, 3])
def test_teacher_forced_shapes(device, batch_size):
    model = tiny_model(device, mask_padding=True)
    text, input_lengths, mel, _, output_lengths = tiny_batch(device, batch_size)
    outputs = model(text, input_lengths, mel, output_lengths)
    n_mel, n_frames = TINY["n_mel_channels"], mel.size(2)
    assert outputs.mel_outputs.shape == (batch_size, n_mel, n_frames)
    assert outputs.mel_outputs_postnet.shape == (batch_size, n_mel, n_frames)
    assert outputs.gate_outputs.shape == (batch_size, n_frames)
    assert outputs.alignments.shape == (batch_size, n_frames, int(input_lengths.max()))
    for b in range(batch_size):
        assert (outputs.alignments[b, :, input_lengths[b] :] == 0).all()
        assert (outputs.mel_outputs_postnet[b, :, output_lengths[b] :] == 0).all()
        assert (outputs.gate_outputs[b, output_lengths[b] :] == 1e3).all()
    torch.testing.assert_close(outputs.alignments.sum(-1), torch.ones(batch_size, n_frames, device=device))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_infer_shapes(device, batch_size):
    model = tiny_model(device).eval()  # prenet dropout stays on, as in the original
    text, input_lengths, *_ = tiny_batch(device, batch_size)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.infer(text, input_lengths, max_decoder_steps=6)
    n_frames = result.mel_outputs_postnet.size(2)
    assert 1 <= n_frames <= 6
    assert (
        result.mel_outputs_postnet.shape
        == result.mel_outputs.shape
        == (batch_size, TINY["n_mel_channels"], n_frames)
    )
    assert result.alignments.shape == (batch_size, n_frames, int(input_lengths.max()))
    assert result.gate_outputs.shape == (batch_size, n_frames)
    assert result.mel_lengths.shape == (batch_size,) and result.mel_lengths.dtype == torch.int32
    assert ((result.mel_lengths >= 0) & (result.mel_lengths <= n_frames)).all()


def test_backward_reaches_every_parameter(device):
    model = tiny_model(device).train()
    text, input_lengths, mel, gate, output_lengths = tiny_batch(device, 3)
    losses = Tacotron2Loss()(model(text, input_lengths, mel, output_lengths), mel, gate)
    losses.total.backward()
    unreached = [
        name
        for name, p in model.named_parameters()
        if p.requires_grad
        and (p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0)
    ]
    assert not unreached, f"no gradient reached: {unreached}"


def set_gate_bias(model: Tacotron2, value: float):
    with torch.no_grad():
        model.decoder.gate_layer.linear_layer.weight.zero_()
        model.decoder.gate_layer.linear_layer.bias.fill_(value)


def test_infer_warns_and_stops_at_max_decoder_steps(device):
    model = tiny_model(device).eval()
    set_gate_bias(model, -100.0)  # never fires
    text, input_lengths, *_ = tiny_batch(device, 2)
    with (
        torch.inference_mode(),
        pytest.warns(UserWarning, match=r"max_decoder_steps=3.*utterance\(s\) \[0, 1\]"),
    ):
        result = model.infer(text, input_lengths, max_decoder_steps=3)
    assert result.mel_outputs_postnet.size(2) == 3
    assert result.mel_lengths.tolist() == [3, 3]


def test_stop_conventions_count_the_firing_frame_differently(device):
    model = tiny_model(device).eval()
    set_gate_bias(model, 100.0)  # fires on the first step
    text, input_lengths, *_ = tiny_batch(device, 2)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("error")
        ngc = model.infer(text, input_lengths)
        nvidia = model.infer(text[:1], stop_convention="nvidia")
    assert ngc.mel_outputs.size(2) == 1 and ngc.mel_lengths.tolist() == [0, 0]
    assert nvidia.mel_outputs.size(2) == 1 and nvidia.mel_lengths.tolist() == [1]


def test_infer_equals_teacher_forcing_on_its_own_output(device):
    """Greedy decoding feeds back its own frames; teacher forcing on those frames must agree."""
    model = tiny_model(device, prenet_dropout=0.0).eval()
    text, input_lengths, *_ = tiny_batch(device, 3)
    with torch.inference_mode():
        decoded = model.infer(text, input_lengths, max_decoder_steps=8, early_stopping=False)
        forced = model(text, input_lengths, decoded.mel_outputs)
    torch.testing.assert_close(forced.mel_outputs, decoded.mel_outputs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(forced.gate_outputs, decoded.gate_outputs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(forced.alignments, decoded.alignments, atol=1e-5, rtol=1e-5)


def test_infer_accepts_unsorted_lengths(device):
    model = tiny_model(device, prenet_dropout=0.0).eval()
    text, input_lengths, *_ = tiny_batch(device, 3)
    order = torch.tensor([2, 0, 1], device=device)
    with torch.inference_mode():
        sorted_batch = model.infer(text, input_lengths, max_decoder_steps=5, early_stopping=False)
        shuffled = model.infer(text[order], input_lengths[order], max_decoder_steps=5, early_stopping=False)
    torch.testing.assert_close(shuffled.mel_outputs_postnet, sorted_batch.mel_outputs_postnet[order])
    torch.testing.assert_close(shuffled.alignments, sorted_batch.alignments[order])


def test_prenet_dropout_switch(device):
    frames = torch.randn(4, TINY["n_mel_channels"], device=device)
    always = tiny_model(device).eval().decoder.prenet
    assert not torch.equal(always(frames), always(frames)), "dropout must stay on in eval mode"
    training_only = tiny_model(device, prenet_always_dropout=False).eval().decoder.prenet
    assert torch.equal(training_only(frames), training_only(frames))
    disabled = tiny_model(device, prenet_dropout=0.0).train().decoder.prenet
    assert torch.equal(disabled(frames), disabled(frames))


def test_decode_step_keeps_no_hidden_state(device):
    model = tiny_model(device, prenet_dropout=0.0).eval()
    text, input_lengths, *_ = tiny_batch(device, 2)
    with torch.inference_mode():
        memory = model.decoder.prepare_memory(model.encode(text, input_lengths), input_lengths)
        state = model.decoder.initial_state(memory.memory)
        frame = torch.randn(2, TINY["prenet_dim"], device=device)
        first = model.decoder.decode_step(state, frame, memory)
        again = model.decoder.decode_step(state, frame, memory)
    for a, b in zip(first[0] + first[1], again[0] + again[1]):
        assert torch.equal(a, b)


def test_masked_loss_ignores_padding(device):
    model = tiny_model(device).eval()
    text, input_lengths, mel, gate, output_lengths = tiny_batch(device, 3)
    with torch.no_grad():
        outputs = model(text, input_lengths, mel, output_lengths)
    masked = Tacotron2Loss(masked=True)
    base = masked(outputs, mel, gate, output_lengths)
    frame_is_pad = torch.arange(mel.size(2), device=device) >= output_lengths[:, None]
    noisy_mel = mel + 5.0 * frame_is_pad[:, None]
    noisy_gate = gate.masked_fill(frame_is_pad, 0.0)
    changed = masked(outputs, noisy_mel, noisy_gate, output_lengths)
    for a, b in zip(base, changed):
        torch.testing.assert_close(a, b)
    full = torch.full_like(output_lengths, mel.size(2))
    for a, b in zip(masked(outputs, mel, gate, full), Tacotron2Loss()(outputs, mel, gate)):
        torch.testing.assert_close(a, b)


def diagonal_and_flat_attention(input_lengths, output_lengths, max_in, max_out):
    diagonal, flat = (
        torch.zeros(len(input_lengths), max_out, max_in),
        torch.zeros(len(input_lengths), max_out, max_in),
    )
    for b, (n_in, n_out) in enumerate(zip(input_lengths.tolist(), output_lengths.tolist())):
        for t in range(n_out):
            diagonal[b, t, min(t * n_in // n_out, n_in - 1)] = 1.0
        flat[b, :n_out, :n_in] = 1.0 / n_in
    return diagonal, flat


def test_guided_attention_penalises_off_diagonal_reading_and_ignores_padding():
    input_lengths, output_lengths = torch.tensor([40, 30]), torch.tensor([200, 150])
    diagonal, flat = diagonal_and_flat_attention(input_lengths, output_lengths, 40, 200)
    reversed_reading = diagonal.clone()
    reversed_reading[0] = diagonal[0].flip(1)
    assert float(guided_attention_loss(diagonal, input_lengths, output_lengths)) < 0.01
    assert float(guided_attention_loss(flat, input_lengths, output_lengths)) == pytest.approx(0.58, abs=0.02)
    assert float(guided_attention_loss(reversed_reading, input_lengths, output_lengths)) > 0.4
    # Weights in padded frames or on padded symbols change nothing.
    padded = flat.clone()
    padded[1, 150:] = 1.0
    padded[1, :, 30:] = 7.0
    torch.testing.assert_close(
        guided_attention_loss(padded, input_lengths, output_lengths),
        guided_attention_loss(flat, input_lengths, output_lengths),
    )


def test_guided_attention_weight_adds_its_term_and_zero_is_the_original_loss(device):
    model = tiny_model(device)
    text, input_lengths, mel, gate, output_lengths = tiny_batch(device, 3)
    outputs = model(text, input_lengths, mel, output_lengths)
    original = Tacotron2Loss()(outputs, mel, gate)
    guided = Tacotron2Loss(guided_attention_weight=2.0)(outputs, mel, gate, output_lengths, input_lengths)
    expected = guided_attention_loss(outputs.alignments, input_lengths, output_lengths)
    assert original.attention_loss.item() == 0.0 and expected.item() > 0.1
    torch.testing.assert_close(guided.attention_loss, expected)
    torch.testing.assert_close(guided.total, original.total + 2.0 * expected)
    guided.total.backward()
    assert model.decoder.attention_layer.query_layer.linear_layer.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="input_lengths"):
        Tacotron2Loss(guided_attention_weight=1.0)(outputs, mel, gate, output_lengths)


def test_mel_frames_and_range(device):
    stft = TacotronSTFT().to(device)
    wav = 0.5 * torch.sin(torch.arange(3000, device=device) * 0.05).repeat(2, 1)
    mel = stft.mel_spectrogram(wav)
    assert mel.shape == (2, 80, 1 + 3000 // 256)
    assert mel.min() >= torch.log(torch.tensor(1e-5)) - 1e-6
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        stft.mel_spectrogram(wav * 3)


def test_rearranged_teacher_forcing_equals_the_step_loop_with_its_gradients(device):
    """Decoder.forward (prenet gates precomputed, projections after the loop, weight gradients formed
    once per sequence, location features as one folded matrix) is decode_step in a loop: the same
    outputs and the same gradient for every parameter, to float rounding."""
    model = tiny_model(device, prenet_dropout=0.0, p_attention_dropout=0.0, p_decoder_dropout=0.0).train()
    text, input_lengths, mels, _, output_lengths = tiny_batch(device, batch_size=3)
    memory = model.encode(text, input_lengths)

    def stepwise():
        decoder = model.decoder
        go = memory.new_zeros(1, memory.size(0), decoder.n_mel_channels)
        prenet = decoder.prenet(torch.cat((go, mels.permute(2, 0, 1)), dim=0))
        decoder_memory, state = decoder.prepare_memory(memory, input_lengths), decoder.initial_state(memory)
        frames, gates, alignments = [], [], []
        for t in range(mels.size(2)):
            state, step = decoder.decode_step(state, prenet[t], decoder_memory)
            (
                frames.append(step.mel_frame),
                gates.append(step.gate_logit),
                alignments.append(step.attention_weights),
            )
        return torch.stack(frames, 2), torch.stack(gates, 1), torch.stack(alignments, 1)

    results = []
    for run in (lambda: tuple(model.decoder(memory, mels, input_lengths)), stepwise):
        model.zero_grad()
        outputs = run()
        (outputs[0].square().sum() + outputs[1].sum() + outputs[2].square().sum()).backward(retain_graph=True)
        results.append((outputs, {n: p.grad.clone() for n, p in model.decoder.named_parameters()}))
    (fast, fast_grads), (plain, plain_grads) = results
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
