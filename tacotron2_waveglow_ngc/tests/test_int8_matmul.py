"""The int8 inference path: the compiled int8 product against its pure-PyTorch twin (bit for bit), both
against float32, and `Int8LSTMCell` against `nn.LSTMCell`."""

import warnings

import pytest
import torch
from torch import nn

from tacotron2_waveglow_ngc import int8_matmul
from tacotron2_waveglow_ngc.fast_inference import Int8LSTMCell, prepare_tacotron2
from tacotron2_waveglow_ngc.int8_matmul import dequantize_weight, int8_linear, quantize_weight

# (M, K, N): K around the kernel's 64-byte blocks and N around its 4-row groups, and the decoder sizes.
# M up to 9: the kernel takes x in blocks of 4 rows.
SHAPES = [
    (1, 1, 1),
    (2, 63, 5),
    (1, 64, 4),
    (3, 65, 7),
    (1, 130, 9),
    (9, 200, 6),
    (4, 1792, 64),
    (1, 2560, 4096),
]


@pytest.fixture(autouse=True)
def compiled():
    if int8_matmul.int8_linear_c is None:
        pytest.fail(f"the int8 extension is not built ({int8_matmul._IMPORT_ERROR}); run bash install.sh")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("allow_vnni", [True, False], ids=["vnni", "plain"])
def test_compiled_product_equals_the_twin_bit_for_bit(shape, allow_vnni):
    if allow_vnni and not int8_matmul.vnni_available():
        pytest.skip("this CPU has no AVX512-VNNI: the plain C loop is the kernel (tested as 'plain')")
    m, k, n = shape
    generator = torch.Generator().manual_seed(k * n)
    weight, bias = torch.randn(n, k, generator=generator), torch.randn(n, generator=generator)
    x = torch.randn(m, k, generator=generator) * 4
    if k >= 4:  # scale exactly 1, so these are rounding ties, which must fall alike (half to even)
        x[0, -1], x[0, :3] = 127.0, torch.tensor([0.5, 1.5, -2.5])
    for packed in (quantize_weight(weight, bias), quantize_weight(weight)):
        compiled = int8_linear(x, packed, allow_vnni=allow_vnni)
        twin = int8_linear(x, packed, backend="torch")
        assert torch.equal(compiled, twin)


def test_product_is_close_to_float32_and_handles_zero_and_nonfinite_rows():
    generator = torch.Generator().manual_seed(0)
    weight, x = torch.randn(512, 1024, generator=generator), torch.randn(3, 1024, generator=generator)
    x[1] = 0.0
    packed = quantize_weight(weight)
    assert (dequantize_weight(packed) - weight).abs().max() <= packed.scale.max() / 2 + 1e-6
    exact = x @ weight.t()
    y = int8_linear(x, packed)
    assert torch.equal(y[1], torch.zeros(512))
    relative = (y - exact).norm() / exact.norm()
    assert relative < 0.02, relative
    x[2, 5] = float("inf")
    assert (
        int8_linear(x, packed)[2].isnan().all() and int8_linear(x, packed, backend="torch")[2].isnan().all()
    )
    with pytest.raises(ValueError, match="backend"):
        int8_linear(x, packed, backend="fbgemm")
    with pytest.raises(ValueError, match="1000 columns"):  # never reads past the weight rows
        int8_linear(x[:, :1000], packed)


def test_int8_lstm_cell_follows_the_float_cell():
    torch.manual_seed(0)
    cell = nn.LSTMCell(96, 128)
    quantised, twin = Int8LSTMCell(cell), Int8LSTMCell(cell, backend="torch")
    x, h, c = torch.randn(2, 96), torch.randn(2, 128).tanh(), torch.randn(2, 128)
    with torch.no_grad():
        expected = cell(x, (h, c))
        got = quantised(x, (h, c))
    for a, b, e in zip(got, twin(x, (h, c)), expected):
        assert torch.equal(a, b)
        assert (a - e).abs().max() < 0.02
    # The float cell's own update: with exact weights (all in [-127, 127] * scale) only x and h round.
    assert not torch.equal(got[0], expected[0])


def test_int8_variant_is_a_quiet_copy_close_to_fp32():
    from tacotron2_waveglow_ngc import bench

    model = bench.Tacotron2(bench.Tacotron2Config(**bench.TINY_TACOTRON2)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's deprecated quantisation API warned on every call
        quantised = prepare_tacotron2(model, "int8")
    assert isinstance(model.decoder.attention_rnn, nn.LSTMCell)
    assert "decoder.attention_rnn.input_weight_u8" in quantised.state_dict()
    text = torch.randint(1, 20, (1, 12), generator=torch.Generator().manual_seed(0))
    mels = []
    for variant in (model, quantised):
        torch.manual_seed(0)  # the same prenet dropout masks (always on, as in the original)
        with torch.inference_mode():
            mels.append(variant.infer(text, max_decoder_steps=10, early_stopping=False).mel_outputs_postnet)
    error = (mels[1] - mels[0]).abs().max()
    assert mels[0].shape == mels[1].shape and 0 < error < 0.05 * mels[0].abs().max(), error
