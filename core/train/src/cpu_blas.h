#pragma once
// The BLAS sgemm LibTorch is linked against, called straight from tensors' memory, and the CPU
// thread policy of training: one pool of threads.
//
// On the CPU LibTorch runs its elementwise work on OpenMP threads and OpenBLAS runs GEMMs on its
// own pthreads. Both keep their idle workers spinning, so on a machine with as many cores as
// threads the two pools take turns stealing each other's cores: in a loop of GEMMs between
// elementwise operations (a training step), a 512 x 128 x 128 product ran at 5-61 GFLOP/s on 2
// cores where it runs at 220 alone. Training therefore runs BLAS on one thread and spreads its own
// products over LibTorch's threads in bands (parallelSgemm): the same loop then ran at 166-226.

#include <torch/torch.h>

namespace moe::train::detail {

// Whether the BLAS sgemm LibTorch is linked against can be called directly.
bool haveBlasSgemm();

// Row-major C[m x n] = alpha op(A)[m x k] op(B)[k x n] + beta C through that sgemm, on the calling
// thread's BLAS; op transposes when asked. lda, ldb and ldc are the row strides of A, B and C as
// they lie in memory. Only call when haveBlasSgemm().
void sgemmRowMajor(bool transA, bool transB, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
                   float beta, float* C, int ldc);

// The same product spread over LibTorch's threads: C split into one band of rows (or of columns,
// when it has more columns than rows) per thread, each band one sgemm. Small products, and calls
// from inside a parallel region, run as one call. With `bias` (n values), C's rows start as bias
// and beta is taken as 1.
void parallelSgemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
                   float beta, float* C, int ldc, const float* bias = nullptr);

// Sets LibTorch's CPU threads to `threads` and, where the BLAS can be told (OpenBLAS), keeps BLAS
// itself on one thread, so products run on LibTorch's threads through parallelSgemm.
void setCpuThreads(int threads);

// One thread for the calling thread's LibTorch work during the scope; the count it had after.
//
// Only one thread of the process should run LibTorch's parallel work: libgomp keeps its idle
// workers spinning between parallel regions only while the process has no more OpenMP threads than
// cores, and each thread that ever opened a parallel region keeps a team of its own. With a second
// team every worker sleeps after each region and is woken by a system call at the next: the example
// LM's training step took 51-53 ms instead of 36-38 on 2 cores. So the thread that builds a trainer
// does it on one thread, and the trainer's own thread does the training.
class SerialScope {
public:
    SerialScope();
    ~SerialScope();
    SerialScope(const SerialScope&) = delete;
    SerialScope& operator=(const SerialScope&) = delete;

private:
    int m_threads;
};

// BLAS's own thread count, where the BLAS can be asked and told (OpenBLAS); 0 when it cannot.
// The GEMM reference of `moe bench train` times LibTorch's product with BLAS's threads as well.
int blasThreads();
void setBlasThreads(int threads);

}  // namespace moe::train::detail
