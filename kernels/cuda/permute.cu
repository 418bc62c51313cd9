// Permute / combine on the GPU: one block per output row (token or grouped row), threads stride
// over the feature dimension, so reads and writes are coalesced and every output element has a
// single writer (no atomics; deterministic).
#include "cuda_common.cuh"
#include "permute.cuh"

namespace moe::kernels::cuda {
namespace {

constexpr int kRowBlock = 128;

// Rows beyond the grid's reach are covered by striding the block index.
#define MOE_ROW_STRIDE(r, n) for (int64_t r = blockIdx.x; r < (n); r += gridDim.x)

__global__ void permuteKernel(PermuteArgs a) {
    MOE_ROW_STRIDE(r, a.rows) {
        const int64_t t = a.rowToken[r];
        if (t < 0 || t >= a.tokens) continue;
        const float* src = a.x + t * a.dim;
        float* dst = a.out + r * a.dim;
        for (int64_t i = threadIdx.x; i < a.dim; i += blockDim.x) dst[i] = src[i];
    }
}

__global__ void permuteBackwardKernel(PermuteBackwardArgs a) {
    MOE_ROW_STRIDE(t, a.tokens) {
        for (int64_t i = threadIdx.x; i < a.dim; i += blockDim.x) {
            float acc = 0.0f;
            for (int64_t j = 0; j < a.k; ++j) {
                const int64_t r = a.slotOf[t * a.k + j];
                if (r >= 0 && r < a.rows) acc += a.dTokens[r * a.dim + i];
            }
            a.dX[t * a.dim + i] = acc;
        }
    }
}

__global__ void combineKernel(UnpermuteCombineArgs a) {
    MOE_ROW_STRIDE(t, a.tokens) {
        for (int64_t i = threadIdx.x; i < a.dim; i += blockDim.x) {
            float acc = 0.0f;
            for (int64_t j = 0; j < a.k; ++j) {
                const int64_t r = a.slotOf[t * a.k + j];
                if (r >= 0 && r < a.rows) acc += a.gates[t * a.k + j] * a.y[r * a.dim + i];
            }
            a.out[t * a.dim + i] = acc;
        }
    }
}

__global__ void rowMapsKernel(const int64_t* slotOf, int64_t n, int64_t k, int64_t rows, int64_t* rowToken,
                              int64_t* rowAssign) {
    MOE_GRID_STRIDE(i, n) {
        const int64_t r = slotOf[i];
        if (r >= 0 && r < rows) {
            rowToken[r] = i / k;
            rowAssign[r] = i;
        }
    }
}

__global__ void combineBackwardDyKernel(UnpermuteCombineBackwardArgs a) {
    MOE_ROW_STRIDE(r, a.rows) {
        const int64_t t = a.rowToken[r], asg = a.rowAssign[r];
        if (t < 0 || t >= a.tokens || asg < 0 || asg >= a.tokens * a.k) continue;
        const float g = a.gates[asg];
        for (int64_t i = threadIdx.x; i < a.dim; i += blockDim.x) a.dY[r * a.dim + i] = g * a.dOut[t * a.dim + i];
    }
}

// One block per assignment: a block-wide dot product of dOut[t] and y[slot].
__global__ void combineBackwardGatesKernel(UnpermuteCombineBackwardArgs a) {
    __shared__ float partial[kRowBlock / 32];
    MOE_ROW_STRIDE(asg, a.tokens * a.k) {
        const int64_t r = a.slotOf[asg], t = asg / a.k;
        float acc = 0.0f;
        if (r >= 0 && r < a.rows)
            for (int64_t i = threadIdx.x; i < a.dim; i += blockDim.x) acc += a.dOut[t * a.dim + i] * a.y[r * a.dim + i];
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = acc;
        __syncthreads();
        if (threadIdx.x == 0) {
            float sum = 0.0f;
            for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) sum += partial[w];
            a.dGates[asg] = sum;
        }
        __syncthreads();
    }
}

}  // namespace

Status launchPermute(const PermuteArgs& a, cudaStream_t s) {
    if (a.rows == 0 || a.dim == 0) return Status::ok();
    permuteKernel<<<blocksFor(a.rows, 1), kRowBlock, 0, s>>>(a);
    MOE_CUDA_CHECK_LAUNCH("permute");
    return Status::ok();
}

Status launchPermuteBackward(const PermuteBackwardArgs& a, cudaStream_t s) {
    if (a.tokens == 0 || a.dim == 0) return Status::ok();
    permuteBackwardKernel<<<blocksFor(a.tokens, 1), kRowBlock, 0, s>>>(a);
    MOE_CUDA_CHECK_LAUNCH("permute backward");
    return Status::ok();
}

Status launchUnpermuteCombine(const UnpermuteCombineArgs& a, cudaStream_t s) {
    if (a.tokens == 0 || a.dim == 0) return Status::ok();
    combineKernel<<<blocksFor(a.tokens, 1), kRowBlock, 0, s>>>(a);
    MOE_CUDA_CHECK_LAUNCH("unpermute combine");
    return Status::ok();
}

Status launchUnpermuteCombineBackward(const UnpermuteCombineBackwardArgs& in, cudaStream_t s) {
    UnpermuteCombineBackwardArgs a = in;
    Scratch scratch(s);
    if (a.dY && a.rows > 0 && a.dim > 0) {
        if (!a.rowToken) {
            int64_t *rowToken = nullptr, *rowAssign = nullptr;
            if (auto st = scratch.alloc(&rowToken, a.rows); !st) return st;
            if (auto st = scratch.alloc(&rowAssign, a.rows); !st) return st;
            MOE_CUDA_CHECK(cudaMemsetAsync(rowToken, 0xff, static_cast<size_t>(a.rows) * sizeof(int64_t), s));
            rowMapsKernel<<<blocksFor(a.tokens * a.k), kBlock, 0, s>>>(a.slotOf, a.tokens * a.k, a.k, a.rows, rowToken,
                                                                       rowAssign);
            MOE_CUDA_CHECK_LAUNCH("unpermute combine backward row maps");
            a.rowToken = rowToken;
            a.rowAssign = rowAssign;
        }
        combineBackwardDyKernel<<<blocksFor(a.rows, 1), kRowBlock, 0, s>>>(a);
        MOE_CUDA_CHECK_LAUNCH("unpermute combine backward dY");
    }
    if (a.dGates && a.tokens * a.k > 0) {
        combineBackwardGatesKernel<<<blocksFor(a.tokens * a.k, 1), kRowBlock, 0, s>>>(a);
        MOE_CUDA_CHECK_LAUNCH("unpermute combine backward dGates");
    }
    return Status::ok();
}

}  // namespace moe::kernels::cuda
