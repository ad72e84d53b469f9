/* Four cells of the soft-DTW forward recursion at once (core.pyx, the steady part of a strip of four
 * table rows), on two-lane double vectors: GCC/Clang vector extensions, so SSE2 on x86-64 and NEON on
 * ARM, with no intrinsics. The operations are core.pyx's `cell`, in the same order, so the results are
 * the same bits.
 *
 * Lane k is table row (first + k) at column j = step - k; its neighbours were all computed at earlier
 * steps, so the four lanes are independent. A lane is "fast" when only its largest term counts in the
 * soft minimum (the two others are more than EXP_SKIP below it): then
 * R = D + (-gamma * (0 + largest)). All four lanes are written; the bits of the returned mask name the
 * fast ones (bit k: lane k), and the caller evaluates the other lanes one by one, over what was written.
 *
 * scaled: rows of -R / gamma (row k of the strip at k * width, row 0 = the row above the strip), and at
 * offset `half` the same rows of -(R + warp) / gamma.
 */
#ifndef NATURALSPEECH_SOFT_DTW_STRIP_H
#define NATURALSPEECH_SOFT_DTW_STRIP_H

#include <stddef.h>

typedef double ns_v2d __attribute__((vector_size(16)));
typedef long long ns_v2i __attribute__((vector_size(16)));

/* a if a > b else b, lane-wise (the scalar code's comparison, NaN handling included). */
static inline ns_v2d ns_select_greater(ns_v2d a, ns_v2d b) {
    ns_v2i mask = (ns_v2i)(a > b);
    return (ns_v2d)(((ns_v2i)a & mask) | ((ns_v2i)b & ~mask));
}

/* Lanes in which exactly one of the three terms is within `skip` of the largest. */
static inline ns_v2i ns_only_largest(ns_v2d r0, ns_v2d r1, ns_v2d r2, ns_v2d largest, ns_v2d skip) {
    ns_v2i close0 = (ns_v2i)(r0 - largest >= skip);
    ns_v2i close1 = (ns_v2i)(r1 - largest >= skip);
    ns_v2i close2 = (ns_v2i)(r2 - largest >= skip);
    ns_v2i any = close0 | close1 | close2;
    ns_v2i two = (close0 & close1) | (close0 & close2) | (close1 & close2);
    return any & ~two;
}

static inline int ns_soft_dtw_strip4(double *scaled, ptrdiff_t half, ptrdiff_t width, int step, const float *D,
                                     ptrdiff_t d_stride, int first, double gamma, double warp, double skip,
                                     float *R, ptrdiff_t r_stride) {
    double r0[4], r1[4], r2[4], cost[4];
    int k, done = 0;
    for (k = 0; k < 4; k++) {
        int j = step - k;
        const double *above = scaled + k * width;
        r0[k] = above[j - 1];
        r1[k] = above[half + j];
        r2[k] = above[half + width + j - 1];
        cost[k] = (double)D[(ptrdiff_t)(first + k - 1) * d_stride + j - 1];
    }
    ns_v2d skip2 = {skip, skip}, minus_gamma = {-gamma, -gamma}, zero = {0.0, 0.0};
    ns_v2d gamma2 = {gamma, gamma}, warp2 = {warp, warp};
    ns_v2d a0 = {r0[0], r0[1]}, a1 = {r0[2], r0[3]};
    ns_v2d b0 = {r1[0], r1[1]}, b1 = {r1[2], r1[3]};
    ns_v2d c0 = {r2[0], r2[1]}, c1 = {r2[2], r2[3]};
    ns_v2d m0 = ns_select_greater(c0, ns_select_greater(a0, b0));
    ns_v2d m1 = ns_select_greater(c1, ns_select_greater(a1, b1));
    ns_v2i fast0 = ns_only_largest(a0, b0, c0, m0, skip2);
    ns_v2i fast1 = ns_only_largest(a1, b1, c1, m1, skip2);
    ns_v2d d0 = {cost[0], cost[1]}, d1 = {cost[2], cost[3]};
    ns_v2d v0 = d0 + minus_gamma * (zero + m0), v1 = d1 + minus_gamma * (zero + m1);
    ns_v2d s0 = -v0 / gamma2, s1 = -v1 / gamma2;
    ns_v2d w0 = -(v0 + warp2) / gamma2, w1 = -(v1 + warp2) / gamma2;
    /* Every lane is stored, the slow ones too: the caller recomputes those and overwrites the same places,
     * and no other lane of this step reads them. Storing unconditionally avoids a branch per lane. */
    double value[4] = {v0[0], v0[1], v1[0], v1[1]};
    double scaled_value[4] = {s0[0], s0[1], s1[0], s1[1]};
    double warped_value[4] = {w0[0], w0[1], w1[0], w1[1]};
    for (k = 0; k < 4; k++) {
        int j = step - k;
        double *row = scaled + (k + 1) * width;
        row[j] = scaled_value[k];
        row[half + j] = warped_value[k];
        R[(ptrdiff_t)(first + k) * r_stride + j] = (float)value[k];
    }
    done = (fast0[0] != 0) | ((fast0[1] != 0) << 1) | ((fast1[0] != 0) << 2) | ((fast1[1] != 0) << 3);
    return done;
}

#endif
