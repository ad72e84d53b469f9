"""Opt-in faster inference variants (they change the numbers slightly; the default path is `fp32`).

* `fp32`: the model as is.
* `bf16`: autocast — bfloat16 matmuls/convs on CPU (float16 on CUDA; oneDNN uses AMX here) with
  float32 state and element-wise maths; weights are cast once per autocast region. Helps WaveGlow's
  convolutions; at batch 1 the Tacotron 2 decoder gets slower (bf16 matrix-vector kernels are not
  faster than fp32 ones here), at batch 4 it breaks even.
* `int8`: `torch.ao.quantization.quantize_dynamic` of the two decoder `nn.LSTMCell`s of a copy of
  Tacotron 2 (int8 weights with one scale per tensor, activations quantised per call; fbgemm, CPU
  only). They hold 17.8M of the decoder's 18.3M weights, so the small Linears (prenet, attention,
  mel projection, gate) stay float32 — quantising them too gains little speed and costs accuracy.
  WaveGlow is left in float32 (its convolutions are not dynamically quantisable).

`bench.py` measures speed and the error against fp32 of each variant.
"""

import copy
from contextlib import nullcontext

import torch
from torch import nn

VARIANTS = ("fp32", "bf16", "int8")


def variant_context(variant: str, device: torch.device):
    """The autocast region of `variant` (a no-op except for bf16)."""
    if variant == "bf16":
        return torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)
    return nullcontext()


def prepare_tacotron2(model: nn.Module, variant: str) -> nn.Module:
    """The model to run for `variant`: `model` itself, or an int8-quantised copy (eval mode)."""
    if variant in ("fp32", "bf16"):
        return model
    if variant == "int8":
        if next(model.parameters()).device.type != "cpu":
            raise ValueError("the int8 variant (dynamic quantisation) runs on CPU only")
        return torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model).eval(), {nn.LSTMCell}, dtype=torch.qint8
        )
    raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")


def prepare_waveglow(model: nn.Module, variant: str) -> nn.Module:
    """WaveGlow for `variant`: the model itself (bf16 acts through `variant_context`; int8 keeps fp32).

    Also measured: a copy whose `WN`s hold bf16 weights and run entirely in bf16 (activations too) —
    no faster than autocast here (725 vs 758 samples/s, same 42 dB SNR), so not kept.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    return model
