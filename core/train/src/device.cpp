#include "device.h"

#include "moe/spec/project.h"

namespace moe::train::detail {

std::string resolveDevice(const std::string& name, torch::Device& out, const std::string& what) {
    int index = -1;
    if (auto e = moe::spec::checkDeviceName(name, index); !e.empty()) return what + ": " + e;
    if (name == "cpu" || (name == "auto" && !torch::cuda::is_available())) {
        out = torch::Device(torch::kCPU);
        return {};
    }
    if (name == "auto") {
        out = torch::Device(torch::kCUDA, 0);
        return {};
    }
    const std::string asked = what + " is \"" + name + "\" but ";
    if (!at::Context::hasCUDART())
        return asked + "this build's LibTorch has no CUDA support (Debian's libtorch is CPU-only); rebuild against a CUDA "
                       "LibTorch (installer/gpu-check.sh shows how) or use \"auto\" or \"cpu\"";
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (count == 0)
        return asked + "LibTorch sees no CUDA GPU on this machine (check the driver and CUDA_VISIBLE_DEVICES); use \"auto\" or \"cpu\"";
    if (index < 0) index = 0;
    if (index >= count)
        return asked + "this machine has " + std::to_string(count) + " CUDA GPU" + (count == 1 ? "" : "s") + " (cuda:0 to cuda:" +
               std::to_string(count - 1) + ")";
    out = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    return {};
}

void synchronize(const torch::Device& device) {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace moe::train::detail
