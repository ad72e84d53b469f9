"""Tacotron 2 + WaveGlow, NVIDIA DeepLearningExamples (NGC) flavour."""
