"""Flowtron: an autoregressive flow-based generative network for text-to-speech (Valle et al. 2020).

A faithful, checkpoint-compatible plain-PyTorch reimplementation of NVIDIA/flowtron: a text encoder and
speaker embedding conditioning a stack of autoregressive affine-coupling flows with attention (and the
beta-binomial attention prior and CTC alignment loss the original added later).
"""
