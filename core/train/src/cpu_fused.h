#pragma once
// Pieces of the networks on the CPU in float32, each one autograd operation with its own backward
// pass: linear layers, attention, rotary positions and RMSNorm. Written out in LibTorch ops, each costs several times
// its arithmetic at the example models' sizes: an operation, an autograd node and a fresh tensor
// for every intermediate, forward and backward (the example LM's attention was 128 matrices of
// 64 x 64 x 32 per layer through a mask built per call, masked_fill, softmax and reshapes).
//
// A block's routed experts: all of them one operation, their activations in the same pass as the
// bias (instead of a narrow, two linear layers, an activation, and for gated experts a product,
// per expert, and a concatenation).
//
// Linear layers: their three products (forward, input and weight gradients) spread over LibTorch's
// threads with BLAS on one thread (cpu_blas.h), instead of BLAS's own thread pool.
//
// Attention: each sequence and head runs on its own, over LibTorch's threads, with its scores in
// cache from first to last: one sgemm for the scores, the mask and softmax in one pass over them
// (a vectorised exp), one sgemm for the values; backward, four sgemms and one pass. Rotary
// positions and RMSNorm: one pass over the rows forward, one backward.

#include <torch/torch.h>

#include "moe/spec/model_spec.h"

namespace moe::train::detail {

// Whether fusedCpuLinear takes these operands: float32 CPU x [..., K] (not empty), weight [N, K]
// and bias [N] or undefined, with a BLAS sgemm to call and sizes that fit its int.
bool fusedCpuLinearApplies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// x weight^T + bias: [..., N]. Differentiable in all three.
torch::Tensor fusedCpuLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// Whether fusedCpuExperts takes these: float32 CPU tokens [S, d] and a plain (relu, gelu, silu)
// or gated (swiglu, geglu) FFN; tanh experts keep LibTorch's operations.
bool fusedCpuExpertsApplies(const torch::Tensor& tokens, moe::spec::Activation activation);

// A block's routed FFN experts over their rows of the permuted tokens: rows [o_e, o_e + sizes[e])
// through expert e, sizes summing to S; [S, d]. `weights` holds each expert's matrices in order,
// each followed by its bias when `bias`: plain fc1 [H, d], fc2 [d, H]; gated gate [H, d],
// up [H, d], down [d, H]. Differentiable in the tokens and every weight. Experts of a few rows
// each run whole on one thread, several at once; larger ones one after another, their products
// in bands over the threads.
torch::Tensor fusedCpuExperts(const torch::Tensor& tokens, const std::vector<std::int64_t>& sizes, moe::spec::Activation activation,
                              bool bias, const std::vector<torch::Tensor>& weights);

// Whether fusedCpuAttention takes these operands: float32 CPU tensors [N, P, d] (q, k) and
// [N, P, dv] (v) with a BLAS sgemm to call and sizes that fit its int.
bool fusedCpuAttentionApplies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

// softmax(scale q k^T, masked) v for every n: [N, P, dv]. A query i sees key j when
// (not causal or j <= i) and (window <= 0 or |i - j| < window). Differentiable in q, k and v.
torch::Tensor fusedCpuAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale, bool causal,
                                std::int64_t window);

// Whether the fused rotary/RMSNorm operations take x: float32 on the CPU, not empty.
bool fusedCpuApplies(const torch::Tensor& x);

// Rotary positions in the half-split layout (moe_net.h: applyRope): x [..., P, dim], dim even,
// positions 0..P-1. Differentiable in x.
torch::Tensor fusedCpuRope(const torch::Tensor& x, double theta);

// x / sqrt(mean(x^2) + eps) * weight over the last dimension. Differentiable in x and weight.
torch::Tensor fusedCpuRmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

}  // namespace moe::train::detail
