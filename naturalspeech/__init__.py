"""NaturalSpeech: End-to-End Text to Speech Synthesis with Human-Level Quality (Tan et al. 2022).

A reimplementation of heatz123/naturalspeech (built on jaywalnut310/vits): phoneme encoder, posterior
encoder, differentiable durator, bidirectional prior/posterior flow, memory bank, HiFi-GAN decoder and
multi-period discriminator, with soft-DTW and monotonic alignment search compiled in place.
"""
