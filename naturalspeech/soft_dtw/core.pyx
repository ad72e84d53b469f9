# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Soft-DTW with a warp penalty on the CPU, forward and backward, compiled in place by install.sh.

The recursion is the one NaturalSpeech's soft-DTW uses (Cuturi & Blondel's soft-DTW, as adapted by
heatz123/naturalspeech from Maghoumi/pytorch-softdtw-cuda): R[0, 0] = 0, other borders +inf, and for
1 <= i <= n, 1 <= j <= m

    R[i, j] = D[i-1, j-1] + softmin_gamma(R[i-1, j-1], R[i-1, j] + warp, R[i, j-1] + warp)
    softmin_gamma(a) = -gamma * log(sum(exp(-a / gamma)))      (shifted by the largest -a / gamma)

value = R[n, m]. The dynamic programme runs in float64 and the table kept for the backward pass is
rounded to float32, as the original does (its gradients depend on that rounding, by up to 7e-4 at
gamma 0.01). The backward pass is the original's E recursion with the same warp terms, in float64 except for the
difference of two table entries, which the original takes in float32. gamma and warp reach the original's
kernels through float32 tensors, so the callers (`__init__.py`) round them to float32 as well.

Per-item lengths (n, m): each utterance's table covers only its own valid rectangle, so its value does
not depend on how much it is padded in the batch (the original pads every item to the batch maximum).

Speed: an exp whose argument is below EXP_SKIP adds less than 2^-57 to a sum that is at least 1 (it
cannot change the float64 result) and is skipped, as is a backward term whose E factor is zero; at the
original's gamma = 0.01 almost every exp goes, which is where the speed over the original comes from.
The backward pass visits only the band of cells that path weight reaches (a few per row at gamma 0.01)
and writes zeros elsewhere. Both passes give the same bits as before these shortcuts (checked against the
previous build on 1,216 random and padded batches, infinities and NaN included, during development).

Memory: the float32 table R (B, N + 2, M + 2) kept for the backward pass, and a few rows of scratch.
"""

from libc.math cimport exp, log, INFINITY, isinf
from libc.stdlib cimport malloc, free


cdef extern from "strip.h" nogil:
    int ns_soft_dtw_strip4(double* scaled, Py_ssize_t half, Py_ssize_t width, int step, const float* D,
                           Py_ssize_t d_stride, int first, double gamma, double warp, double skip, float* R,
                           Py_ssize_t r_stride)

cdef double EXP_SKIP = -40.0  # exp(-40) = 4.2e-18 < 2^-57
cdef double EXP_ZERO = -746.0  # exp of anything below is exactly 0.0 in float64


cdef inline double shifted_exp(double x) noexcept nogil:
    """exp(x) for x <= 0, without calling exp where the answer is 1 or cannot matter (see above)."""
    if x == 0.0:
        return 1.0
    if x < EXP_SKIP:
        return 0.0
    return exp(x)


cdef inline double cell(double r0, double r1, double r2, double cost, double gamma) noexcept nogil:
    """R[i, j] from r0 = -R[i-1, j-1] / gamma, r1 = -(R[i-1, j] + warp) / gamma,
    r2 = -(R[i, j-1] + warp) / gamma and cost = D[i-1, j-1], in the original's operations."""
    cdef double rmax = r0 if r0 > r1 else r1
    cdef double rsum
    cdef int close
    if r2 > rmax:
        rmax = r2
    # Usually only the largest term counts (the others are below exp(EXP_SKIP)): one predictable branch
    # instead of one per term.
    close = (r0 - rmax >= EXP_SKIP) + (r1 - rmax >= EXP_SKIP) + (r2 - rmax >= EXP_SKIP)
    if close == 1:
        return cost + (-gamma * (0.0 + rmax))
    # The terms in the original's order; the largest one is exp(0) = 1 exactly.
    rsum = shifted_exp(r0 - rmax) + shifted_exp(r1 - rmax) + shifted_exp(r2 - rmax)
    if rsum == 1.0:
        return cost + (-gamma * (0.0 + rmax))
    return cost + (-gamma * (log(rsum) + rmax))


# Rows computed together: each cell waits for its left neighbour, so STRIP rows advance side by side,
# row k one column behind row k - 1; their cells at one step are independent. strip.h takes them four at a
# time; two groups of four per step give the processor two independent chains to overlap (the recursion
# is bound by the latency of one cell, not by arithmetic).
# A cell's value enters its successors scaled in two ways, -R / gamma (diagonal move) and
# -(R + warp) / gamma (warp moves); both are kept, so each value is divided twice, not three times.
DEF STRIP = 8
DEF GROUP = 4


cdef double forward_one(const float* D, float* R, Py_ssize_t n_cols_d, Py_ssize_t n_cols_r,
                        int n, int m, double gamma, double warp, double* scaled) noexcept nogil:
    """D: the utterance's (N, M) block (row stride n_cols_d); R: its (N + 2, M + 2) block, filled.
    scaled: 2 * (STRIP + 1) * (M + 2) float64 scratch holding -R / gamma and then -(R + warp) / gamma of
    the strip's rows; row 0 is the table row above the strip. Returns R[n, m]."""
    cdef int first, k, j, step, height, done
    cdef double value, last = 0.0
    cdef double* above
    cdef double* warped_above
    cdef Py_ssize_t width = n_cols_r
    cdef Py_ssize_t half = (STRIP + 1) * width  # offset of the -(R + warp) / gamma rows
    scaled[0] = -0.0 / gamma
    scaled[half] = -(0.0 + warp) / gamma
    R[0] = 0.0
    for j in range(1, m + 2):
        scaled[j] = -INFINITY
        scaled[half + j] = -INFINITY
        R[j] = INFINITY
    first = 1
    while first <= n:
        height = n - first + 1
        if height > STRIP:
            height = STRIP
        for k in range(1, height + 1):
            scaled[k * width] = -INFINITY
            scaled[half + k * width] = -INFINITY
            R[(first + k - 1) * n_cols_r] = INFINITY
            R[(first + k - 1) * n_cols_r + m + 1] = INFINITY
        for step in range(1, m + height):
            done = 0
            if height == STRIP:
                # Each group of four rows whose rows all have a cell at this step: usually all four on
                # vectors (strip.h); the two groups are independent of each other at one step.
                if GROUP <= step <= m:
                    done = ns_soft_dtw_strip4(scaled, half, width, step, D, n_cols_d, first, gamma, warp,
                                              EXP_SKIP, R, n_cols_r)
                if 2 * GROUP <= step <= m + GROUP:
                    done |= ns_soft_dtw_strip4(scaled + GROUP * width, half, width, step - GROUP, D, n_cols_d,
                                               first + GROUP, gamma, warp, EXP_SKIP, R, n_cols_r) << GROUP
                if done == 255:
                    continue
            for k in range(height):
                j = step - k
                if not (1 <= j <= m) or (done & (1 << k)):
                    continue
                above = scaled + k * width
                warped_above = above + half
                value = cell(above[j - 1], warped_above[j], warped_above[width + j - 1],
                             D[(first + k - 1) * n_cols_d + j - 1], gamma)
                R[(first + k) * n_cols_r + j] = <float>value
                above[width + j] = -value / gamma
                warped_above[width + j] = -(value + warp) / gamma
                last = value
        for j in range(m + 1):
            scaled[j] = scaled[height * width + j]
            scaled[half + j] = scaled[half + height * width + j]
        first += height
    return last


cdef inline double term(double e, float r_to, float r_from, double d_to, double penalty,
                        double gamma) noexcept nogil:
    """e * exp((r_to - r_from - d_to - penalty) / gamma), skipping what is exactly zero. The difference of
    the two table entries is taken in float32, as the original's numba code does with its float32 table."""
    cdef double argument
    cdef float difference
    if e == 0.0 and not isinf(r_from):
        return 0.0
    difference = r_to - r_from
    argument = (<double>difference - d_to - penalty) / gamma
    if argument < EXP_ZERO:
        return 0.0
    return e * exp(argument)


cdef void backward_one(const float* D, const float* R, float* G, Py_ssize_t n_cols_d, Py_ssize_t n_cols_r,
                       int n, int m, double gamma, double warp,
                       double* e_next, double* e_cur, float* r_next, float* r_cur) noexcept nogil:
    """G: the utterance's (N, M) gradient block, row stride n_cols_d, every cell written (0 beyond (n, m)).

    Path weight E flows from the corner along a narrow band: a cell is zero when its three successors are
    zero (and its table entry is finite). So each row is visited only from the last column where the
    row below is non-zero (cells right of it are zero), leftwards until the row below is zero from there
    on and this row's last cell was zero (cells left of it are zero too). A row with an infinite table
    entry is visited whole, because there the original's arithmetic gives NaN rather than zero."""
    cdef int i, j, k, top, lo_next, hi_next, lo_cur, hi_cur
    cdef bint row_has_inf
    cdef double d_down, d_right, d_diag, value
    cdef float entry
    cdef double* swap
    cdef float* swap_r
    cdef float* g_row
    # Row n + 1: -inf but for the corner, which repeats R[n, m] (the original's border); E is 1 there.
    for j in range(m + 2):
        r_next[j] = -INFINITY
        e_next[j] = 0.0
    r_next[m + 1] = R[n * n_cols_r + m]
    e_next[m + 1] = 1.0
    lo_next = hi_next = m + 1  # the non-zero columns of e_next lie in [lo_next, hi_next]
    for i in range(n, 0, -1):
        g_row = G + (i - 1) * n_cols_d
        row_has_inf = False
        for j in range(1, m + 1):
            entry = R[i * n_cols_r + j]
            row_has_inf = row_has_inf | (isinf(entry) != 0)
            r_cur[j] = -INFINITY if isinf(entry) else entry
        r_cur[m + 1] = -INFINITY
        e_cur[m + 1] = 0.0
        top = m if (row_has_inf or hi_next > m) else hi_next
        for j in range(top + 1, m + 1):
            e_cur[j] = 0.0
            g_row[j - 1] = 0.0
        lo_cur, hi_cur = m + 2, 0
        j = top
        while j >= 1:
            if e_next[j] == 0.0 and e_cur[j + 1] == 0.0 and e_next[j + 1] == 0.0 and r_cur[j] > -INFINITY:
                # No path weight reaches this cell from its successors (most cells at small gamma).
                e_cur[j] = 0.0
                g_row[j - 1] = 0.0
                if j < lo_next and not row_has_inf:  # and so none reaches any cell left of it
                    for k in range(1, j):
                        e_cur[k] = 0.0
                        g_row[k - 1] = 0.0
                    break
                j -= 1
                continue
            # D of the cell below, to the right and diagonal (0 beyond the utterance).
            d_down = <double>D[i * n_cols_d + j - 1] if i < n else 0.0
            d_right = <double>D[(i - 1) * n_cols_d + j] if j < m else 0.0
            d_diag = <double>D[i * n_cols_d + j] if (i < n and j < m) else 0.0
            value = term(e_next[j], r_next[j], r_cur[j], d_down, warp, gamma)
            value = value + term(e_cur[j + 1], r_cur[j + 1], r_cur[j], d_right, warp, gamma)
            value = value + term(e_next[j + 1], r_next[j + 1], r_cur[j], d_diag, 0.0, gamma)
            e_cur[j] = value
            g_row[j - 1] = <float>value
            if value != 0.0:  # NaN included: it is not zero for the tests above either
                lo_cur = j
                if hi_cur == 0:
                    hi_cur = j
            j -= 1
        for j in range(m, n_cols_d):
            g_row[j] = 0.0
        lo_next, hi_next = lo_cur, hi_cur
        swap = e_next
        e_next = e_cur
        e_cur = swap
        swap_r = r_next
        r_next = r_cur
        r_cur = swap_r


def _check(D, lengths_n, lengths_m):
    batch, n_rows, n_cols = D.shape[0], D.shape[1], D.shape[2]
    if lengths_n.shape[0] != batch or lengths_m.shape[0] != batch:
        raise ValueError(f"need {batch} lengths per side, got {lengths_n.shape[0]} and {lengths_m.shape[0]}")
    for b in range(batch):
        if not (1 <= lengths_n[b] <= n_rows and 1 <= lengths_m[b] <= n_cols):
            raise ValueError(
                f"item {b}: lengths ({lengths_n[b]}, {lengths_m[b]}) outside the cost matrix ({n_rows}, {n_cols})"
            )


def soft_dtw_forward(const float[:, :, ::1] D, const long long[::1] lengths_n, const long long[::1] lengths_m,
                     double gamma, double warp, float[:, :, ::1] R, float[::1] values):
    """D (B, N, M) float32 costs; lengths (B,) int64; R (B, N + 2, M + 2) float32, filled; values (B,)."""
    cdef Py_ssize_t b, batch = D.shape[0]
    cdef Py_ssize_t width = D.shape[2] + 2
    cdef double* rows
    _check(D, lengths_n, lengths_m)
    if R.shape[0] != batch or R.shape[1] != D.shape[1] + 2 or R.shape[2] != width:
        raise ValueError("R must be (B, N + 2, M + 2)")
    rows = <double*>malloc(2 * (STRIP + 1) * width * sizeof(double))
    if rows == NULL:
        raise MemoryError()
    try:
        with nogil:
            for b in range(batch):
                values[b] = <float>forward_one(&D[b, 0, 0], &R[b, 0, 0], D.shape[2], width,
                                               <int>lengths_n[b], <int>lengths_m[b], gamma, warp, rows)
    finally:
        free(rows)


def soft_dtw_backward(const float[:, :, ::1] D, const float[:, :, ::1] R, const long long[::1] lengths_n,
                      const long long[::1] lengths_m, double gamma, double warp, float[:, :, ::1] G):
    """d(value_b)/dD into G (B, N, M) float32 (every cell written), from the forward pass's R."""
    cdef Py_ssize_t b, i, batch = D.shape[0]
    cdef Py_ssize_t width = D.shape[2] + 2
    cdef double* rows
    _check(D, lengths_n, lengths_m)
    cdef float* table_rows
    rows = <double*>malloc(2 * width * sizeof(double))
    table_rows = <float*>malloc(2 * width * sizeof(float))
    if rows == NULL or table_rows == NULL:
        free(rows)
        free(table_rows)
        raise MemoryError()
    try:
        with nogil:
            for b in range(batch):
                backward_one(&D[b, 0, 0], &R[b, 0, 0], &G[b, 0, 0], D.shape[2], width,
                             <int>lengths_n[b], <int>lengths_m[b], gamma, warp,
                             rows, rows + width, table_rows, table_rows + width)
                for i in range(lengths_n[b] * D.shape[2], D.shape[1] * D.shape[2]):
                    (&G[b, 0, 0])[i] = 0.0
    finally:
        free(rows)
        free(table_rows)
