# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: extra_compile_args = -O3 -ffp-contract=off
"""int8 x int8 matrix products for the int8 inference path, compiled in place by install.sh.

Each row of x is quantised on the fly (symmetric, one scale per row, round half to even), multiplied
exactly in integers with the pre-quantised weight rows and scaled back to float32. The weights are
stored as unsigned bytes (q + 128) so that AVX512-VNNI's unsigned-by-signed dot product (vpdpbusd) can
consume them directly; the offset is removed with 128 * sum(xq). On CPUs without AVX512-VNNI a plain
C loop computes the same integers. The pure-PyTorch twin is `int8_linear_torch` in this folder's
__init__.py, and a test holds the two bit-identical.
-ffp-contract=off: the float rescaling must round each product and sum separately, as the twin does.
"""

cdef extern from *:
    """
    #include <stdint.h>
    #include <math.h>

    /* The integer dot products out[r] = sum_j w[r, j] * x[j], w as unsigned bytes, x signed. */
    static void dots_plain(const uint8_t *w, const int8_t *x, int32_t *out, long n, long k) {
        for (long r = 0; r < n; ++r) {
            const uint8_t *row = w + r * k;
            int32_t s = 0;
            for (long j = 0; j < k; ++j) s += (int32_t)row[j] * (int32_t)x[j];
            out[r] = s;
        }
    }

    #if defined(__x86_64__) && defined(__GNUC__)
    #include <immintrin.h>
    #define INT8_HAVE_VNNI 1
    /* Four weight rows per pass share each 64-byte load of x; a masked load covers the tail. */
    __attribute__((target("avx512f,avx512bw,avx512vnni")))
    static void dots_vnni(const uint8_t *w, const int8_t *x, int32_t *out, long n, long k) {
        long full = k / 64 * 64;
        __mmask64 tail = (k > full) ? (~0ULL >> (64 - (k - full))) : 0;
        long r = 0;
        for (; r + 4 <= n; r += 4) {
            const uint8_t *w0 = w + r * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
            for (long j = 0; j < full; j += 64) {
                __m512i xv = _mm512_loadu_si512(x + j);
                a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(w0 + j), xv);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(w1 + j), xv);
                a2 = _mm512_dpbusd_epi32(a2, _mm512_loadu_si512(w2 + j), xv);
                a3 = _mm512_dpbusd_epi32(a3, _mm512_loadu_si512(w3 + j), xv);
            }
            if (tail) {
                __m512i xv = _mm512_maskz_loadu_epi8(tail, x + full);
                a0 = _mm512_dpbusd_epi32(a0, _mm512_maskz_loadu_epi8(tail, w0 + full), xv);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_maskz_loadu_epi8(tail, w1 + full), xv);
                a2 = _mm512_dpbusd_epi32(a2, _mm512_maskz_loadu_epi8(tail, w2 + full), xv);
                a3 = _mm512_dpbusd_epi32(a3, _mm512_maskz_loadu_epi8(tail, w3 + full), xv);
            }
            out[r] = _mm512_reduce_add_epi32(a0);
            out[r + 1] = _mm512_reduce_add_epi32(a1);
            out[r + 2] = _mm512_reduce_add_epi32(a2);
            out[r + 3] = _mm512_reduce_add_epi32(a3);
        }
        for (; r < n; ++r) {
            const uint8_t *w0 = w + r * k;
            __m512i a0 = _mm512_setzero_si512();
            for (long j = 0; j < full; j += 64)
                a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(w0 + j), _mm512_loadu_si512(x + j));
            if (tail)
                a0 = _mm512_dpbusd_epi32(
                    a0, _mm512_maskz_loadu_epi8(tail, w0 + full), _mm512_maskz_loadu_epi8(tail, x + full));
            out[r] = _mm512_reduce_add_epi32(a0);
        }
    }
    /* Up to four rows of x against each weight row, so a batch reads the weights once: out[i * n + r]. */
    __attribute__((target("avx512f,avx512bw,avx512vnni")))
    static void dots_vnni_rows(const uint8_t *w, const int8_t *x, int32_t *out, long n, long k, long m) {
        long full = k / 64 * 64;
        __mmask64 tail = (k > full) ? (~0ULL >> (64 - (k - full))) : 0;
        const int8_t *x0 = x, *x1 = x + (m > 1) * k, *x2 = x + (m > 2) * 2 * k, *x3 = x + (m > 3) * 3 * k;
        for (long r = 0; r < n; ++r) {
            const uint8_t *w0 = w + r * k;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
            for (long j = 0; j < full; j += 64) {
                __m512i wv = _mm512_loadu_si512(w0 + j);
                a0 = _mm512_dpbusd_epi32(a0, wv, _mm512_loadu_si512(x0 + j));
                a1 = _mm512_dpbusd_epi32(a1, wv, _mm512_loadu_si512(x1 + j));
                a2 = _mm512_dpbusd_epi32(a2, wv, _mm512_loadu_si512(x2 + j));
                a3 = _mm512_dpbusd_epi32(a3, wv, _mm512_loadu_si512(x3 + j));
            }
            if (tail) {
                __m512i wv = _mm512_maskz_loadu_epi8(tail, w0 + full);
                a0 = _mm512_dpbusd_epi32(a0, wv, _mm512_maskz_loadu_epi8(tail, x0 + full));
                a1 = _mm512_dpbusd_epi32(a1, wv, _mm512_maskz_loadu_epi8(tail, x1 + full));
                a2 = _mm512_dpbusd_epi32(a2, wv, _mm512_maskz_loadu_epi8(tail, x2 + full));
                a3 = _mm512_dpbusd_epi32(a3, wv, _mm512_maskz_loadu_epi8(tail, x3 + full));
            }
            /* Rows beyond m repeat row 0's data; their sums are computed and dropped. */
            out[r] = _mm512_reduce_add_epi32(a0);
            if (m > 1) out[n + r] = _mm512_reduce_add_epi32(a1);
            if (m > 2) out[2 * n + r] = _mm512_reduce_add_epi32(a2);
            if (m > 3) out[3 * n + r] = _mm512_reduce_add_epi32(a3);
        }
    }
    #else
    #define INT8_HAVE_VNNI 0
    #endif

    static int int8_vnni_enabled(void) {
    #if INT8_HAVE_VNNI
        static int enabled = -1;
        if (enabled < 0) {
            __builtin_cpu_init();
            enabled = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
        }
        return enabled;
    #else
        return 0;
    #endif
    }

    /* out (m, n) = x (m, k) . w (n, k)^T in integers, m <= 4. */
    static void int8_dots(const uint8_t *w, const int8_t *x, int32_t *out, long n, long k, long m,
                          int allow_vnni) {
    #if INT8_HAVE_VNNI
        if (allow_vnni && int8_vnni_enabled()) {
            if (m == 1) dots_vnni(w, x, out, n, k);
            else dots_vnni_rows(w, x, out, n, k, m);
            return;
        }
    #endif
        for (long i = 0; i < m; ++i) dots_plain(w, x + i * k, out + i * n, n, k);
    }
    """
    int int8_vnni_enabled() nogil
    void int8_dots(const unsigned char* w, const signed char* x, int* out, long n, long k, long m, int allow_vnni) nogil

from libc.math cimport fabsf, isfinite, nearbyintf, NAN
from libc.stdlib cimport free, malloc


def vnni_available():
    """Whether this CPU runs the AVX512-VNNI kernel (otherwise the plain loop is used)."""
    return bool(int8_vnni_enabled())


cdef enum:
    ROWS = 4  # rows of x per pass over the weights (the kernel's tile)


def int8_linear_c(
    const float[:, ::1] x,
    const unsigned char[:, ::1] weight_u8,
    const float[::1] weight_scale,
    const float[::1] bias,
    float[:, ::1] out,
    bint has_bias,
    bint allow_vnni,
):
    """out (M, N) = dequantised (quantised x) @ (weight_u8 - 128)^T * scales (+ bias); see the module doc.

    x: (M, K) float32; weight_u8: (N, K) uint8; weight_scale, bias: (N,) float32; out: (M, N) float32.
    """
    cdef Py_ssize_t m = x.shape[0], k = x.shape[1], n = weight_u8.shape[0]
    if weight_u8.shape[1] != k or weight_scale.shape[0] != n or (has_bias and bias.shape[0] != n):
        raise ValueError(
            f"int8 product: x has {k} columns, the weight is {weight_u8.shape[0]} x {weight_u8.shape[1]} "
            f"with {weight_scale.shape[0]} scales and {bias.shape[0] if has_bias else 0} biases"
        )
    if out.shape[0] != m or out.shape[1] != n:
        raise ValueError(f"int8 product: out is {out.shape[0]} x {out.shape[1]}, expected {m} x {n}")
    if m == 0 or n == 0:
        return
    cdef Py_ssize_t block, rows, row, i, j, r
    cdef float amax, value
    cdef bint finite
    cdef float scales[ROWS]
    cdef int sums[ROWS]
    cdef signed char* xq = <signed char*> malloc(ROWS * max(k, 1) * sizeof(signed char))
    cdef int* acc = <int*> malloc(ROWS * n * sizeof(int))
    if xq == NULL or acc == NULL:
        free(xq)
        free(acc)
        raise MemoryError()
    try:
        with nogil:
            block = 0
            while block < m:
                rows = min(ROWS, m - block)
                for i in range(rows):
                    row = block + i
                    amax, finite = 0.0, True
                    for j in range(k):
                        value = fabsf(x[row, j])
                        if not isfinite(value):
                            finite = False
                        elif value > amax:
                            amax = value
                    # A row holding a NaN or an infinity comes out NaN, as the twin's arithmetic gives.
                    # (A scale that underflows to 0, like an all-zero row, becomes 1, as in the twin.)
                    scales[i] = amax / <float> 127.0 if finite else NAN
                    if finite and not scales[i] > 0:
                        scales[i] = 1.0
                    sums[i] = 0
                    for j in range(k):
                        value = 0.0
                        if finite:
                            # Clamped as in the twin: a subnormal scale could push x / scale past 127.
                            value = min(max(nearbyintf(x[row, j] / scales[i]), <float> -127.0), <float> 127.0)
                        xq[i * k + j] = <signed char> value
                        sums[i] += <int> xq[i * k + j]
                int8_dots(&weight_u8[0, 0], xq, acc, n, k, rows, allow_vnni)
                for i in range(rows):
                    for r in range(n):
                        value = <float> (acc[i * n + r] - 128 * sums[i])
                        value = value * (scales[i] * weight_scale[r])
                        if has_bias:
                            value = value + bias[r]
                        out[block + i, r] = value
                block += ROWS
    finally:
        free(xq)
        free(acc)
