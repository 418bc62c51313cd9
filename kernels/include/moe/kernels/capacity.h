#pragma once
// Expert histogram and capacity-aware slot assignment.
//
// An assignment is one (token t, choice j) pair, flat index a = t * k + j; expertIdx[a] is in
// [0, E) or -1 (no expert: already dropped upstream). "Token order" is increasing a.
//
// Histogram: counts[e] = #{a : expertIdx[a] == e}. No backward (integer output).
//
// AssignSlots: each expert takes at most `capacity` assignments (capacity < 0: unlimited).
//   Position policy: an expert keeps the first `capacity` of its assignments in token order.
//   Probs policy:    an expert keeps the `capacity` assignments with the largest gate; equal
//                    gates go to the earlier assignment (lower a).
//   dropped[a] = 1 when expertIdx[a] >= 0 and the assignment was not kept, else 0.
//   slot[a]    = position of a kept assignment among its expert's kept assignments, in token
//                order (0 .. capacity-1): its row in an [E, capacity] buffer. -1 if not kept.
//   kept[e]    = number of kept assignments of expert e.
// No backward: the outputs are discrete. Feed expertIdx with dropped entries set to -1 into
// permute (permute.h) to route only the kept assignments.

#include <cstdint>

#include "moe/kernels/types.h"

namespace moe::kernels {

struct HistogramArgs {
    int64_t assignments = 0;             // T * k
    int64_t experts = 0;                 // E >= 1
    const int64_t* expertIdx = nullptr;  // [assignments]
    int64_t* counts = nullptr;           // [E] out
};

struct AssignSlotsArgs {
    int64_t tokens = 0;                  // T
    int64_t k = 1;                       // choices per token
    int64_t experts = 0;                 // E >= 1
    int64_t capacity = -1;               // per expert; < 0: unlimited, 0: drop everything
    DropPolicy policy = DropPolicy::Probs;
    const int64_t* expertIdx = nullptr;  // [T, k]
    const float* gates = nullptr;        // [T, k]; may be nullptr for the Position policy
    int64_t* slot = nullptr;             // [T, k] out
    uint8_t* dropped = nullptr;          // [T, k] out
    int64_t* kept = nullptr;             // [E] out
};

Status validate(const HistogramArgs& a);
Status validate(const AssignSlotsArgs& a);

// Capacity of the Switch/GShard formula: ceil(factor * tokens * k / experts), at least 0.
int64_t capacityFor(double factor, int64_t tokens, int64_t k, int64_t experts);

}  // namespace moe::kernels
