#include "cpu_blas.h"

#include <dlfcn.h>

#include <algorithm>

#include <ATen/Parallel.h>

namespace moe::train::detail {

namespace {

// The Fortran BLAS sgemm (column-major), as the system BLAS (OpenBLAS on Debian) exports it.
using Sgemm = void (*)(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
                       const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c, const int* ldc);

// LibTorch's CPU library loads the BLAS it calls; its symbols are in the global scope.
template <typename F>
F blasSymbol(const char* name) {
    return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

Sgemm sgemm() {
    static const auto f = blasSymbol<Sgemm>("sgemm_");
    return f;
}

// Below this many multiply-adds a product is not worth a parallel region (OpenBLAS itself keeps
// products up to 2^18 on one thread).
constexpr double kSplitWork = 262144.0;

}  // namespace

bool haveBlasSgemm() { return sgemm() != nullptr; }

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: BLAS gets B first, and each
// row-major matrix is, as it lies, the column-major transpose of itself.
void sgemmRowMajor(bool transA, bool transB, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
                   float beta, float* C, int ldc) {
    const char ta = transB ? 'T' : 'N', tb = transA ? 'T' : 'N';
    sgemm()(&ta, &tb, &n, &m, &k, &alpha, B, &ldb, A, &lda, &beta, C, &ldc);
}

void parallelSgemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
                   float beta, float* C, int ldc, const float* bias) {
    if (m <= 0 || n <= 0) return;
    // Rows [i0, i1) and columns [j0, j1) of C: the bias first, then the product into them.
    auto band = [&](int i0, int i1, int j0, int j1) {
        float b = beta;
        if (bias) {
            for (int i = i0; i < i1; ++i) std::copy(bias + j0, bias + j1, C + static_cast<std::int64_t>(i) * ldc + j0);
            b = 1.0f;
        }
        const float* a = transA ? A + i0 : A + static_cast<std::int64_t>(i0) * lda;
        const float* bb = transB ? B + static_cast<std::int64_t>(j0) * ldb : B + j0;
        sgemmRowMajor(transA, transB, i1 - i0, j1 - j0, k, alpha, a, lda, bb, ldb, b, C + static_cast<std::int64_t>(i0) * ldc + j0, ldc);
    };
    const int threads = at::get_num_threads();
    if (threads <= 1 || static_cast<double>(m) * n * k < kSplitWork || at::in_parallel_region()) return band(0, m, 0, n);
    const bool byRows = m >= n;
    const int length = byRows ? m : n;
    // One band per thread, a multiple of 8 long (whole vector registers of the BLAS kernels).
    const int per = std::max(8, ((length + threads - 1) / threads + 7) / 8 * 8);
    at::parallel_for(0, length, per, [&](std::int64_t first, std::int64_t last) {
        const int f = static_cast<int>(first), l = static_cast<int>(last);
        if (byRows) band(f, l, 0, n);
        else band(0, m, f, l);
    });
}

int blasThreads() {
    static const auto get = blasSymbol<int (*)()>("openblas_get_num_threads");
    return get ? get() : 0;
}

void setBlasThreads(int threads) {
    static const auto set = blasSymbol<void (*)(int)>("openblas_set_num_threads");
    if (set) set(std::max(1, threads));
}

void setCpuThreads(int threads) {
    at::set_num_threads(std::max(1, threads));
    if (haveBlasSgemm()) setBlasThreads(1);
}

SerialScope::SerialScope() : m_threads(at::get_num_threads()) { at::set_num_threads(1); }

SerialScope::~SerialScope() { at::set_num_threads(m_threads); }

}  // namespace moe::train::detail
