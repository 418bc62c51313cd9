#pragma once
// Launchers of the router gating kernels: preconditions are validated by Backend (shapes, pointers)
// before these run; each takes the stream explicitly and returns a Status (MOE_CUDA_CHECK).
#include <cuda_runtime.h>

#include "moe/kernels/gating.h"

namespace moe::kernels::cuda {

Status launchGatingForward(const GatingForwardArgs& a, cudaStream_t s);
Status launchGatingBackward(const GatingBackwardArgs& a, cudaStream_t s);

}  // namespace moe::kernels::cuda
