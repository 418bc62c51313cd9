#pragma once
// Fused router gating: scores, top-k, renormalised gates in one pass over the logits.
//
// Layout: row-major, tokens T, experts E, k choices per token (1 <= k <= E).
//   logits    [T, E] float   router output for each token
//   bias      [E]    float   optional (nullptr): added to the scores for *selection only*
//                            (aux-loss-free balancing, DeepSeek-V3 style); never in the gates
//   probs     [T, E] float   out: s = softmax(logits / temperature) per row, or sigmoid(logits / temperature)
//   expertIdx [T, k] int64   out: the k experts with the largest s + bias, best first; ties go to
//                            the lower expert index
//   gates     [T, k] float   out: g_j = s[expertIdx_j], or with renormalize
//                            g_j = s[expertIdx_j] / (sum_l s[expertIdx_l] + kRenormEps)
//
// Backward (top-k selection is piecewise constant, so only the scores carry gradient):
//   dS[e]  = dProbs[e] (optional, nullptr = 0; for aux / z losses computed from probs)
//          + sum over j with expertIdx_j = e of:  dG_j                     (no renormalize)
//                                                 (dG_j - sum_l dG_l g_l) / D   (renormalize, D as above)
//   dz     = s * (dS - sum_e dS_e s_e)   (softmax)   or   dS * s * (1 - s)   (sigmoid)
//   dLogits = dz / temperature.            The bias receives no gradient.

#include <cstdint>

#include "moe/kernels/types.h"

namespace moe::kernels {

// Keeps renormalisation finite when every sigmoid score underflows to 0.
inline constexpr float kRenormEps = 1e-20f;

struct GatingParams {
    int64_t tokens = 0;          // T >= 0
    int64_t experts = 0;         // E >= 1
    int64_t k = 1;               // 1 <= k <= E
    ScoreFn score = ScoreFn::Softmax;
    float temperature = 1.0f;    // > 0
    bool renormalize = true;     // gates of a token sum to 1
};

struct GatingForwardArgs {
    GatingParams p;
    const float* logits = nullptr;  // [T, E]
    const float* bias = nullptr;    // [E] or nullptr
    float* probs = nullptr;         // [T, E]
    int64_t* expertIdx = nullptr;   // [T, k]
    float* gates = nullptr;         // [T, k]
};

struct GatingBackwardArgs {
    GatingParams p;
    const float* probs = nullptr;        // [T, E] from the forward
    const int64_t* expertIdx = nullptr;  // [T, k] from the forward
    const float* gates = nullptr;        // [T, k] from the forward
    const float* dGates = nullptr;       // [T, k]
    const float* dProbs = nullptr;       // [T, E] or nullptr
    float* dLogits = nullptr;            // [T, E] out
};

Status validate(const GatingForwardArgs& a);
Status validate(const GatingBackwardArgs& a);

}  // namespace moe::kernels
