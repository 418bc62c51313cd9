#pragma once
// Many small matrix products at once (attention's scores and values: one per sequence and head),
// forward and backward.
//
// LibTorch 1.13's CPU bmm multiplies each matrix of the batch through a select, a view and a
// full addmm dispatch; at attention's sizes (49 x 49 x 16 in the ViT example) that costs more than
// the product: the ViT's training step took 106-111 ms with this, 128-147 ms with bmm. Here, on
// the CPU in float32, each product is
// one call of the BLAS sgemm LibTorch itself is linked against, straight from the tensors'
// memory. Elsewhere (other devices or dtypes, a LibTorch without a global sgemm) it is bmm.

#include <torch/torch.h>

namespace moe::train::detail {

// Whether the BLAS sgemm LibTorch is linked against can be called directly.
bool haveBlasSgemm();

// Row-major C[m x n] = alpha op(A)[m x k] op(B)[k x n] + beta C through that sgemm; op
// transposes when asked. lda, ldb and ldc are the row strides of A, B and C as they lie in
// memory. Only call when haveBlasSgemm().
void sgemmRowMajor(bool transA, bool transB, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
                   float beta, float* C, int ldc);

// a [N, m, k] x b [N, k, n] -> [N, m, n]; differentiable in both. Either operand may be a
// transposed view (attention's K^T); other layouts are made contiguous first.
torch::Tensor batchedMatmul(const torch::Tensor& a, const torch::Tensor& b);

// Whether batchedMatmul takes the sgemm path for these operands.
bool batchedMatmulUsesBlas(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace moe::train::detail
