#pragma once
// Many small matrix products at once (attention's scores and values: one per sequence and head),
// forward and backward.
//
// LibTorch 1.13's CPU bmm multiplies each matrix of the batch through a select, a view and a
// full addmm dispatch; at attention's sizes (49 x 49 x 16 in the ViT example) that costs more than
// the product: the ViT's training step took 106-111 ms with this, 128-147 ms with bmm. Here, on
// the CPU in float32, each product is one call of the BLAS sgemm LibTorch itself is linked
// against, straight from the tensors' memory, the products spread over LibTorch's threads.
// Elsewhere (other devices or dtypes, a LibTorch without a global sgemm) it is bmm. The fused
// attention (cpu_fused.h) has taken over attention's products; attention sinks still come here.

#include <torch/torch.h>

#include "cpu_blas.h"

namespace moe::train::detail {

// a [N, m, k] x b [N, k, n] -> [N, m, n]; differentiable in both. Either operand may be a
// transposed view (attention's K^T); other layouts are made contiguous first.
torch::Tensor batchedMatmul(const torch::Tensor& a, const torch::Tensor& b);

// Whether batchedMatmul takes the sgemm path for these operands.
bool batchedMatmulUsesBlas(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace moe::train::detail
