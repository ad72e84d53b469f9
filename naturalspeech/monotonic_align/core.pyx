# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Monotonic alignment search (Glow-TTS / VITS `maximum_path`), compiled in place by install.sh.

Each utterance is searched on its own valid corner of the score matrix; the score is accumulated in
place, as VITS does, so the caller passes a scratch copy. The pure-PyTorch twin lives in
`naturalspeech/monotonic_align/__init__.py` (`maximum_path_torch`) and a test holds the two equal.
"""

# Scores of cells a monotonic path cannot reach: VITS uses -1e9 in float32, and so must we, because the
# accumulated values (and so the tie decisions) depend on it.
cdef float UNREACHABLE = -1e9


cdef void search_one(float* score, float* path, Py_ssize_t n_cols, int n_frames, int n_tokens) noexcept nogil:
    """score, path: row-major (frames, n_cols) blocks of one utterance; valid part n_frames x n_tokens."""
    cdef int t, k, first, stop, inner_stop
    cdef float stay, advance
    cdef float* row
    cdef float* previous
    for t in range(n_frames):
        # Token k is admissible at frame t when the path can reach it (k <= t) and still reach the last
        # token by the last frame (k >= n_tokens - n_frames + t).
        first = n_tokens - n_frames + t
        if first < 0:
            first = 0
        stop = t + 1
        if stop > n_tokens:
            stop = n_tokens
        row = score + t * n_cols
        previous = row - n_cols
        k = first
        if k == 0 and k < stop:  # the first token: entered at frame 0 only
            if t == 0:
                row[0] = row[0] + 0.0
            else:
                row[0] = row[0] + (UNREACHABLE if UNREACHABLE > previous[0] else previous[0])
            k = 1
        # The bulk: stay on token k or advance from k - 1, whichever scored higher. A branch-free inner
        # loop the compiler can vectorise; token k == t (only reachable by advancing) comes after it.
        inner_stop = stop if stop < t else t
        while k < inner_stop:
            stay = previous[k]
            advance = previous[k - 1]
            row[k] = row[k] + (advance if advance > stay else stay)
            k += 1
        if k < stop:  # k == t
            advance = previous[k - 1]
            row[k] = row[k] + (advance if advance > UNREACHABLE else UNREACHABLE)
    # Back from the last token at the last frame. On a tie the path stays on its token, so earlier
    # tokens get as few frames as possible (VITS' rule, pinned by the fixture's tie cases).
    k = n_tokens - 1
    for t in range(n_frames - 1, -1, -1):
        path[t * n_cols + k] = 1
        if k != 0 and (k == t or score[(t - 1) * n_cols + k] < score[(t - 1) * n_cols + k - 1]):
            k -= 1


def maximum_path_c(float[:, :, ::1] paths, float[:, :, ::1] scores, int[::1] n_frames, int[::1] n_tokens):
    """paths (B, T_frames, T_tokens) float32 zeros, filled with the 0/1 path; scores (B, T_frames, T_tokens)
    float32, overwritten by the accumulated scores; n_frames, n_tokens (B,) int32 valid lengths."""
    cdef Py_ssize_t b, batch = paths.shape[0]
    cdef Py_ssize_t n_cols = paths.shape[2]
    if scores.shape[0] != batch or scores.shape[1] != paths.shape[1] or scores.shape[2] != n_cols:
        raise ValueError(f"scores {tuple(scores.shape)[:3]} and paths {tuple(paths.shape)[:3]} differ")
    if n_frames.shape[0] != batch or n_tokens.shape[0] != batch:
        raise ValueError("n_frames and n_tokens need one length per utterance")
    for b in range(batch):
        if not (0 < n_tokens[b] <= n_cols and 0 < n_frames[b] <= paths.shape[1]):
            raise ValueError(
                f"utterance {b}: lengths ({n_frames[b]} frames, {n_tokens[b]} tokens) outside the matrix "
                f"{tuple(paths.shape)[1:3]} or zero"
            )
    with nogil:
        for b in range(batch):
            if n_tokens[b] <= n_frames[b]:
                search_one(&scores[b, 0, 0], &paths[b, 0, 0], n_cols, n_frames[b], n_tokens[b])
