"""Neural HMMs are all you need (for high-quality attention-free TTS), Mehta et al. 2021.

A faithful plain-PyTorch reimplementation of shivammehta25/Neural-HMM: Tacotron 2's encoder feeding a
left-to-right, no-skip, autoregressive neural HMM trained with the exact forward algorithm.
"""
