"""Maximizing Mutual Information for Tacotron, Liu et al. 2019 (arXiv 1909.01145).

A plain-PyTorch reimplementation of bfs18/tacotron2: NVIDIA's Tacotron 2 with a CTC recognizer on the
decoder output (the mutual-information term), the gradient adaptive factor that weighs it, and drop
frames on the teacher-forcing input; CookiePPP's p_teacher_forcing as an option.
"""
