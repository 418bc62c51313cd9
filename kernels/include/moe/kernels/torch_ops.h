#pragma once
// LibTorch face of the kernels: autograd functions the training engine calls in its MoE blocks.
//
// FOR core/train .cpp FILES (and kernels' own torch code) ONLY: this header includes ATen, which
// costs seconds per translation unit, and the rest of the project must stay torch-free. Never
// include it from a header or from Qt / viz / cluster code.
//
// Tensors on the CPU run on the CpuFast backend (OpenMP, LibTorch's thread count); CUDA tensors
// (with a CUDA build of LibTorch) run on the CUDA backend. Floating tensors must be float32,
// index tensors int64. Gradients are first order (no double backward). Errors throw c10::Error
// with a message naming the argument, like every LibTorch op.

#include <ATen/ATen.h>

#include <cstdint>

#include "moe/kernels/types.h"

namespace moe::kernels::torch_ops {

struct Permuted {
    at::Tensor tokens;   // [S, d] rows grouped by expert, token order within an expert
    at::Tensor offsets;  // [E+1] int64: rows of expert e are offsets[e] .. offsets[e+1]-1
    at::Tensor slotOf;   // [T, k] int64: row of (t, j) in tokens, -1 if dropped
};

// expertIdx [T, k] int64, entries in [0, E) or -1 for a dropped assignment. Differentiable w.r.t. x.
Permuted permute(const at::Tensor& x, const at::Tensor& expertIdx, int64_t experts);

// out[t] = sum_j gates[t, j] * y[slotOf[t, j]] (skipping -1). Differentiable w.r.t. y and gates.
// slotOf must come from permute() (each row of y used by exactly one assignment).
at::Tensor unpermuteCombine(const at::Tensor& y, const at::Tensor& slotOf, const at::Tensor& gates, int64_t tokens);

struct Gating {
    at::Tensor probs;      // [T, E] softmax or sigmoid of logits / temperature (for aux / z losses)
    at::Tensor gates;      // [T, k] gates of the chosen experts (renormalised if asked)
    at::Tensor expertIdx;  // [T, k] int64, best first, ties to the lower expert
};

// Fused router gating (see gating.h for the maths). Differentiable w.r.t. logits through both
// probs and gates. bias [E] (optional, undefined tensor = none) only steers the selection and
// gets no gradient (aux-loss-free balancing).
Gating gating(const at::Tensor& logits, int64_t k, ScoreFn score = ScoreFn::Softmax, double temperature = 1.0,
              bool renormalize = true, const at::Tensor& bias = {});

struct Slots {
    at::Tensor expertIdx;  // [T, k] int64: the input with dropped assignments set to -1 (feed to permute)
    at::Tensor slot;       // [T, k] int64: position in the expert's [capacity] buffer, -1 if not kept
    at::Tensor dropped;    // [T, k] bool: dropped by the capacity limit
    at::Tensor kept;       // [E] int64: kept assignments per expert
};

// Which assignments an expert serves first (the "position" that Position drops by, and the
// order slots are numbered in).
enum class SlotPriority {
    TokenMajor,   // (t, j): by token, whatever the choice rank (capacity.h; Megatron-style)
    ChoiceMajor,  // (j, t): every token's first choice before any second choice (GShard-style)
};

// Capacity-aware slot assignment (capacity.h). capacity < 0: unlimited. Not differentiable.
// gates [T, k] float32 decide the Probs policy (may be undefined for Position). With ChoiceMajor
// the kernel runs on the transposed [k, T] problem, so equal gates under Probs also go to the
// lower (j, t) instead of the lower (t, j).
Slots assignSlots(const at::Tensor& expertIdx, const at::Tensor& gates, int64_t experts, int64_t capacity,
                  DropPolicy policy, SlotPriority priority = SlotPriority::TokenMajor);

// counts[e] = number of entries of expertIdx equal to e (entries -1 ignored). [E] int64.
at::Tensor histogram(const at::Tensor& expertIdx, int64_t experts);

// The same ops written with plain LibTorch index ops (stable sort, index_select, index_add).
// Same layout and results; the bench measures the kernels against these, the tests use them as
// an independent oracle, and they work on any device LibTorch supports.
namespace composite {
Permuted permute(const at::Tensor& x, const at::Tensor& expertIdx, int64_t experts);
at::Tensor unpermuteCombine(const at::Tensor& y, const at::Tensor& slotOf, const at::Tensor& gates, int64_t tokens);
Gating gating(const at::Tensor& logits, int64_t k, ScoreFn score = ScoreFn::Softmax, double temperature = 1.0,
              bool renormalize = true, const at::Tensor& bias = {});
}  // namespace composite

}  // namespace moe::kernels::torch_ops
