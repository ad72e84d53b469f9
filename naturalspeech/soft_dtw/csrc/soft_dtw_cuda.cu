// Soft-DTW with a warp penalty on a GPU: the recursion of ../core.pyx (NaturalSpeech's soft-DTW, with the
// warp applied as the CPU path applies it), one thread block per item, the cells of one anti-diagonal
// (i + j = p) in parallel, a barrier between diagonals.
//
// Built by ../cuda.py with nvcc into a shared library called through ctypes (no PyTorch headers needed).
// It has been compiled but never run by its authors: no GPU was available. tests/test_soft_dtw.py
// compiles it where nvcc exists; the CPU kernel and the PyTorch twin are the tested references.
//
// Layout: D (B, N, M) float32 costs; lengths n, m (B,) int64 on the device; R64 (B, N + 2, M + 2) float64
// scratch; R32 the same shape in float32 (kept for the backward pass, as the CPU path keeps it);
// values (B,) float32; E64 (B, N + 2, M + 2) float64 scratch; G (B, N, M) float32 gradient (zeroed by the
// caller). gamma and warp arrive already rounded to float32 values by the caller.

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

namespace {

__device__ __forceinline__ size_t at(int b, int i, int j, int rows, int cols) {
    return ((size_t)b * rows + i) * cols + j;
}

__global__ void forward_kernel(const float *D, const long long *lengths_n, const long long *lengths_m, int N,
                               int M, double gamma, double warp, double *R64, float *R32, float *values) {
    const int b = blockIdx.x;
    const int n = (int)lengths_n[b], m = (int)lengths_m[b];
    const int rows = N + 2, cols = M + 2;
    for (int index = threadIdx.x; index < rows * cols; index += blockDim.x) {
        const int i = index / cols, j = index % cols;
        const double start = (i == 0 && j == 0) ? 0.0 : INFINITY;
        R64[at(b, i, j, rows, cols)] = start;
        R32[at(b, i, j, rows, cols)] = (float)start;
    }
    __syncthreads();
    for (int p = 2; p <= n + m; p++) {
        const int first = max(1, p - m), last = min(n, p - 1);
        for (int i = first + threadIdx.x; i <= last; i += blockDim.x) {
            const int j = p - i;
            const double r0 = -R64[at(b, i - 1, j - 1, rows, cols)] / gamma;
            const double r1 = -(R64[at(b, i - 1, j, rows, cols)] + warp) / gamma;
            const double r2 = -(R64[at(b, i, j - 1, rows, cols)] + warp) / gamma;
            double rmax = r0 > r1 ? r0 : r1;
            if (r2 > rmax) rmax = r2;
            const double rsum = exp(r0 - rmax) + exp(r1 - rmax) + exp(r2 - rmax);
            const double value = (double)D[((size_t)b * N + (i - 1)) * M + (j - 1)] + (-gamma * (log(rsum) + rmax));
            R64[at(b, i, j, rows, cols)] = value;
            R32[at(b, i, j, rows, cols)] = (float)value;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) values[b] = (float)R64[at(b, n, m, rows, cols)];
}

// The table as the backward pass of the CPU path reads it: -inf beyond the item but for the corner
// (n + 1, m + 1), which repeats R[n, m]; infinite entries inside become -inf.
__device__ __forceinline__ float table_at(const float *R32, int b, int i, int j, int n, int m, int rows, int cols) {
    if (i == n + 1 && j == m + 1) return R32[at(b, n, m, rows, cols)];
    if (i > n || j > m) return -INFINITY;
    const float value = R32[at(b, i, j, rows, cols)];
    return isinf(value) ? -INFINITY : value;
}

__device__ __forceinline__ double cost_at(const float *D, int b, int i, int j, int n, int m, int N, int M) {
    if (i < 1 || j < 1 || i > n || j > m) return 0.0;
    return (double)D[((size_t)b * N + (i - 1)) * M + (j - 1)];
}

__global__ void backward_kernel(const float *D, const float *R32, const long long *lengths_n,
                                const long long *lengths_m, int N, int M, double gamma, double warp,
                                double *E64, float *G) {
    const int b = blockIdx.x;
    const int n = (int)lengths_n[b], m = (int)lengths_m[b];
    const int rows = N + 2, cols = M + 2;
    for (int index = threadIdx.x; index < rows * cols; index += blockDim.x) {
        const int i = index / cols, j = index % cols;
        E64[at(b, i, j, rows, cols)] = (i == n + 1 && j == m + 1) ? 1.0 : 0.0;
    }
    __syncthreads();
    for (int p = n + m; p >= 2; p--) {
        const int first = max(1, p - m), last = min(n, p - 1);
        for (int i = first + threadIdx.x; i <= last; i += blockDim.x) {
            const int j = p - i;
            const float here = table_at(R32, b, i, j, n, m, rows, cols);
            // The difference of two table entries in float32, as the CPU path computes it.
            const float down = table_at(R32, b, i + 1, j, n, m, rows, cols) - here;
            const float right = table_at(R32, b, i, j + 1, n, m, rows, cols) - here;
            const float diagonal = table_at(R32, b, i + 1, j + 1, n, m, rows, cols) - here;
            const double a = exp(((double)down - cost_at(D, b, i + 1, j, n, m, N, M) - warp) / gamma);
            const double c = exp(((double)right - cost_at(D, b, i, j + 1, n, m, N, M) - warp) / gamma);
            const double d = exp(((double)diagonal - cost_at(D, b, i + 1, j + 1, n, m, N, M)) / gamma);
            const double e = E64[at(b, i + 1, j, rows, cols)] * a + E64[at(b, i, j + 1, rows, cols)] * c +
                             E64[at(b, i + 1, j + 1, rows, cols)] * d;
            E64[at(b, i, j, rows, cols)] = e;
            G[((size_t)b * N + (i - 1)) * M + (j - 1)] = (float)e;
        }
        __syncthreads();
    }
}

constexpr int THREADS = 256;

}  // namespace

extern "C" int ns_soft_dtw_cuda_forward(const float *D, const long long *lengths_n, const long long *lengths_m,
                                        int B, int N, int M, double gamma, double warp, double *R64, float *R32,
                                        float *values, void *stream) {
    forward_kernel<<<B, THREADS, 0, (cudaStream_t)stream>>>(D, lengths_n, lengths_m, N, M, gamma, warp, R64, R32,
                                                            values);
    return (int)cudaGetLastError();
}

extern "C" int ns_soft_dtw_cuda_backward(const float *D, const float *R32, const long long *lengths_n,
                                         const long long *lengths_m, int B, int N, int M, double gamma,
                                         double warp, double *E64, float *G, void *stream) {
    backward_kernel<<<B, THREADS, 0, (cudaStream_t)stream>>>(D, R32, lengths_n, lengths_m, N, M, gamma, warp, E64,
                                                             G);
    return (int)cudaGetLastError();
}

extern "C" const char *ns_soft_dtw_cuda_error(int code) { return cudaGetErrorString((cudaError_t)code); }
