#pragma once
// Factories of the CPU backends (registry.cpp owns the instances).
#include <memory>

#include "moe/kernels/backend.h"

namespace moe::kernels::detail {

std::unique_ptr<Backend> makeReferenceBackend();
std::unique_ptr<Backend> makeCpuFastBackend();

// Shared by both CPU backends so that a tie or a NaN resolves identically everywhere (the CUDA
// kernels use the same rules): strictly greater wins, so equal values go to the lower index.
inline bool selectBefore(float candidate, float best) { return candidate > best; }
// Probs drop policy ordering key: NaN gates rank last instead of breaking the sort.
inline float dropKey(float gate) { return gate != gate ? -__builtin_inff() : gate; }

}  // namespace moe::kernels::detail
