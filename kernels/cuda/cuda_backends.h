#pragma once
// Factory of the CUDA backend; only registry.cpp includes this, inside its one #ifdef.
#include <memory>
#include <string>

#include "moe/kernels/backend.h"

namespace moe::kernels::detail {

// nullptr and a reason ("no CUDA device: ...") when no device answers.
std::unique_ptr<Backend> makeCudaBackend(std::string* whyNot);

}  // namespace moe::kernels::detail
