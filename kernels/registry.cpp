// The backend registry: the one place that knows which backends exist in this build.
#include <omp.h>

#include <spdlog/spdlog.h>

#include <memory>

#include "cpu/cpu_backends.h"
#include "moe/kernels/backend.h"

// The only conditional compilation of the module: everything else is chosen at run time.
#ifdef MOE_HAS_CUDA
#include "cuda/cuda_backends.h"
namespace moe::kernels {
namespace {
std::unique_ptr<Backend> probeCuda(std::string* whyNot) { return detail::makeCudaBackend(whyNot); }
}  // namespace
}  // namespace moe::kernels
#else
namespace moe::kernels {
namespace {
std::unique_ptr<Backend> probeCuda(std::string* whyNot) {
    *whyNot = "not compiled in (configure with MOE_ENABLE_CUDA=ON or AUTO and a CUDA toolkit)";
    return nullptr;
}
}  // namespace
}  // namespace moe::kernels
#endif

namespace moe::kernels {
namespace {

struct Registry {
    std::unique_ptr<Backend> reference = detail::makeReferenceBackend();
    std::unique_ptr<Backend> cpuFast = detail::makeCpuFastBackend();
    std::unique_ptr<Backend> cuda;
    std::string cudaWhyNot;
    std::vector<Backend*> available;

    Registry() {
        cuda = probeCuda(&cudaWhyNot);
        if (cuda)
            spdlog::info("kernels: CUDA backend on {}", cuda->description());
        else
            spdlog::debug("kernels: CUDA backend unavailable: {}", cudaWhyNot);
        available = {reference.get(), cpuFast.get()};
        if (cuda) available.push_back(cuda.get());
    }
};

Registry& registry() {
    static Registry r;  // thread-safe initialisation; probing CUDA happens once
    return r;
}

}  // namespace

const std::vector<Backend*>& availableBackends() { return registry().available; }

Backend* backend(BackendKind kind) {
    Registry& r = registry();
    switch (kind) {
    case BackendKind::Reference: return r.reference.get();
    case BackendKind::CpuFast: return r.cpuFast.get();
    case BackendKind::Cuda: return r.cuda.get();
    }
    return nullptr;
}

std::string unavailableReason(BackendKind kind) {
    if (backend(kind)) return {};
    return kind == BackendKind::Cuda ? registry().cudaWhyNot : std::string("unknown backend");
}

Backend& hostBackend() { return *registry().cpuFast; }
Backend& referenceBackend() { return *registry().reference; }

int cpuThreads() { return omp_get_max_threads(); }

}  // namespace moe::kernels
