#pragma once
// Launchers of the CUDA kernels: preconditions are validated by Backend (shapes, pointers) before
// these run; each takes the stream explicitly and returns a Status (MOE_CUDA_CHECK).
#include <cuda_runtime.h>

#include "moe/kernels/capacity.h"
#include "moe/kernels/gating.h"
#include "moe/kernels/permute.h"

namespace moe::kernels::cuda {

Status launchGatingForward(const GatingForwardArgs& a, cudaStream_t s);   // gating.cu
Status launchGatingBackward(const GatingBackwardArgs& a, cudaStream_t s);
Status launchHistogram(const HistogramArgs& a, cudaStream_t s);           // dispatch.cu
Status launchAssignSlots(const AssignSlotsArgs& a, cudaStream_t s);
Status launchBuildDispatch(const BuildDispatchArgs& a, cudaStream_t s);
Status launchPermute(const PermuteArgs& a, cudaStream_t s);               // permute.cu
Status launchPermuteBackward(const PermuteBackwardArgs& a, cudaStream_t s);
Status launchUnpermuteCombine(const UnpermuteCombineArgs& a, cudaStream_t s);
Status launchUnpermuteCombineBackward(const UnpermuteCombineBackwardArgs& a, cudaStream_t s);

}  // namespace moe::kernels::cuda
