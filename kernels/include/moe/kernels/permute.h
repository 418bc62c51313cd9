#pragma once
// Dispatch (permute) and combine (unpermute) of tokens grouped by expert.
//
// Assignments as in capacity.h: a = t * k + j, expertIdx[a] in [0, E) or -1 (dropped).
// S = number of assignments with expertIdx >= 0.
//
// BuildDispatch: the grouped layout. Rows of expert e are offsets[e] .. offsets[e+1]-1, in token
//   order within an expert (so the layout is deterministic and independent of the backend).
//   offsets  [E+1] int64  offsets[0] = 0, offsets[E] = S
//   slotOf   [T, k] int64 row of assignment a, -1 if dropped
//   rowToken [S] int64    t of the assignment in each row
//   rowAssign[S] int64    a of the assignment in each row
//
// Permute:          tokens[r, :] = x[rowToken[r], :]                          x [T, d], tokens [S, d]
//   backward:       dX[t, :] = sum_j dTokens[slotOf[t, j], :]  (skipping -1)
// UnpermuteCombine: out[t, :] = sum_j gates[t, j] * y[slotOf[t, j], :]         y [S, d], out [T, d]
//   backward:       dY[r, :] = gates[rowAssign[r]] * dOut[rowToken[r], :]
//                   dGates[t, j] = <dOut[t, :], y[slotOf[t, j], :]>   (0 if dropped)
// Every output element is written by exactly one owner (a gather, never a scatter), so the fast
// backends need no atomics and results do not depend on the thread count. Sums over j run in
// increasing j.

#include <cstdint>

#include "moe/kernels/types.h"

namespace moe::kernels {

struct BuildDispatchArgs {
    int64_t tokens = 0;                  // T
    int64_t k = 1;
    int64_t experts = 0;                 // E >= 1
    const int64_t* expertIdx = nullptr;  // [T, k]
    int64_t* offsets = nullptr;          // [E+1] out
    int64_t* slotOf = nullptr;           // [T, k] out
    int64_t* rowToken = nullptr;         // [T*k] out (only the first S are written)
    int64_t* rowAssign = nullptr;        // [T*k] out (only the first S are written)
};

struct PermuteArgs {
    int64_t tokens = 0;                  // T (bounds of rowToken)
    int64_t rows = 0;                    // S
    int64_t dim = 0;                     // d
    const float* x = nullptr;            // [T, d]
    const int64_t* rowToken = nullptr;   // [S]
    float* out = nullptr;                // [S, d] out (the grouped tokens)
};

struct PermuteBackwardArgs {
    int64_t tokens = 0;                  // T
    int64_t k = 1;
    int64_t rows = 0;                    // S (bounds check of slotOf)
    int64_t dim = 0;
    const float* dTokens = nullptr;      // [S, d]
    const int64_t* slotOf = nullptr;     // [T, k]
    float* dX = nullptr;                 // [T, d] out
};

struct UnpermuteCombineArgs {
    int64_t tokens = 0;                  // T
    int64_t k = 1;
    int64_t rows = 0;                    // S
    int64_t dim = 0;
    const float* y = nullptr;            // [S, d]
    const int64_t* slotOf = nullptr;     // [T, k]
    const float* gates = nullptr;        // [T, k]
    float* out = nullptr;                // [T, d] out
};

struct UnpermuteCombineBackwardArgs {
    int64_t tokens = 0;                  // T
    int64_t k = 1;
    int64_t rows = 0;                    // S
    int64_t dim = 0;
    const float* dOut = nullptr;         // [T, d]
    const float* y = nullptr;            // [S, d]
    const int64_t* slotOf = nullptr;     // [T, k]
    const int64_t* rowToken = nullptr;   // [S] from BuildDispatch, or nullptr: derived from slotOf
    const int64_t* rowAssign = nullptr;  // [S] from BuildDispatch, or nullptr: derived from slotOf
    const float* gates = nullptr;        // [T, k]
    float* dY = nullptr;                 // [S, d] out (nullptr: skip)
    float* dGates = nullptr;             // [T, k] out (nullptr: skip)
};

Status validate(const BuildDispatchArgs& a);
Status validate(const PermuteArgs& a);
Status validate(const PermuteBackwardArgs& a);
Status validate(const UnpermuteCombineArgs& a);
Status validate(const UnpermuteCombineBackwardArgs& a);

}  // namespace moe::kernels
