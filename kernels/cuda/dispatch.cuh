#pragma once
// Launchers of the histogram, slot assignment and dispatch layout kernels: preconditions are
// validated by Backend (shapes, pointers) before these run; each takes the stream explicitly and
// returns a Status (MOE_CUDA_CHECK).
#include <cuda_runtime.h>

#include "moe/kernels/capacity.h"
#include "moe/kernels/permute.h"

namespace moe::kernels::cuda {

Status launchHistogram(const HistogramArgs& a, cudaStream_t s);
Status launchAssignSlots(const AssignSlotsArgs& a, cudaStream_t s);
Status launchBuildDispatch(const BuildDispatchArgs& a, cudaStream_t s);

}  // namespace moe::kernels::cuda
