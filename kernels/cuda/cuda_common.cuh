#pragma once
// Shared by the CUDA kernels: error checks that turn a CUDA error into a Status.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "moe/kernels/types.h"

namespace moe::kernels::cuda {

inline Status cudaStatus(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return Status::ok();
    return Status::runtime(std::string(what) + ": " + cudaGetErrorString(err));
}

// Wrap every runtime call: returns a RuntimeError Status from the enclosing function on failure.
#define MOE_CUDA_CHECK(expr)                                                             \
    do {                                                                                 \
        const cudaError_t moe_cuda_err_ = (expr);                                        \
        if (moe_cuda_err_ != cudaSuccess) return ::moe::kernels::cuda::cudaStatus(moe_cuda_err_, #expr); \
    } while (0)

// After a launch: configuration errors show up here, execution errors at the next sync.
#define MOE_CUDA_CHECK_LAUNCH(name) MOE_CUDA_CHECK(cudaGetLastError())

constexpr int kBlock = 256;

// Grid size for n elements; kernels use grid-stride loops, so capping the grid is safe.
inline unsigned blocksFor(int64_t n, int block = kBlock) {
    const int64_t b = (n + block - 1) / block;
    return static_cast<unsigned>(b < 1 ? 1 : (b > (int64_t{1} << 20) ? (int64_t{1} << 20) : b));
}

#define MOE_GRID_STRIDE(i, n)                                                                 \
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Stream-ordered scratch memory, freed when it goes out of scope (on the same stream).
class Scratch {
public:
    explicit Scratch(cudaStream_t s) : m_stream(s) {}
    ~Scratch() {
        for (void* p : m_ptrs) cudaFreeAsync(p, m_stream);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    template <class T>
    Status alloc(T** out, int64_t count) {
        if (m_count == kMax) return Status::runtime("CUDA scratch: too many buffers");
        void* p = nullptr;
        const size_t bytes = static_cast<size_t>(count < 1 ? 1 : count) * sizeof(T);
        MOE_CUDA_CHECK(cudaMallocAsync(&p, bytes, m_stream));
        m_ptrs[m_count++] = p;
        *out = static_cast<T*>(p);
        return Status::ok();
    }

private:
    static constexpr int kMax = 16;
    cudaStream_t m_stream;
    void* m_ptrs[kMax] = {};
    int m_count = 0;
};

}  // namespace moe::kernels::cuda
