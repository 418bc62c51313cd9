#pragma once
// Launchers of the permute / unpermute-combine kernels: preconditions are validated by Backend
// (shapes, pointers) before these run; each takes the stream explicitly and returns a Status
// (MOE_CUDA_CHECK).
#include <cuda_runtime.h>

#include "moe/kernels/permute.h"

namespace moe::kernels::cuda {

Status launchPermute(const PermuteArgs& a, cudaStream_t s);
Status launchPermuteBackward(const PermuteBackwardArgs& a, cudaStream_t s);
Status launchUnpermuteCombine(const UnpermuteCombineArgs& a, cudaStream_t s);
Status launchUnpermuteCombineBackward(const UnpermuteCombineBackwardArgs& a, cudaStream_t s);

}  // namespace moe::kernels::cuda
