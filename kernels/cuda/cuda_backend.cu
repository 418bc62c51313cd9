// The CUDA backend: device pointers in, kernels queued on the legacy default stream (the stream a
// CUDA LibTorch uses unless told otherwise, so ordering with its ops is preserved).
#include <string>

#include "cuda_backends.h"
#include "cuda_common.cuh"
#include "dispatch.cuh"
#include "gating.cuh"
#include "permute.cuh"

namespace moe::kernels::detail {
namespace {

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int device) : m_device(device) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
            m_description = std::string(prop.name) + ", sm_" + std::to_string(prop.major) + std::to_string(prop.minor);
        else
            m_description = "CUDA device " + std::to_string(device);
    }
    BackendKind kind() const override { return BackendKind::Cuda; }
    bool supports(Op) const override { return true; }
    std::string description() const override { return m_description; }
    bool deviceMemory() const override { return true; }

    void* allocate(size_t bytes) override {
        void* p = nullptr;
        if (bytes == 0 || cudaSetDevice(m_device) != cudaSuccess || cudaMalloc(&p, bytes) != cudaSuccess) return nullptr;
        return p;
    }
    void release(void* p) override {
        if (p) cudaFree(p);
    }
    Status copyToBackend(void* dst, const void* src, size_t bytes) override {
        if (bytes) MOE_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
        return Status::ok();
    }
    Status copyToHost(void* dst, const void* src, size_t bytes) override {
        if (bytes) MOE_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
        return Status::ok();
    }
    Status synchronize() override {
        MOE_CUDA_CHECK(cudaStreamSynchronize(m_stream));
        return Status::ok();
    }

protected:
    Status doGatingForward(const GatingForwardArgs& a) override { return cuda::launchGatingForward(a, m_stream); }
    Status doGatingBackward(const GatingBackwardArgs& a) override { return cuda::launchGatingBackward(a, m_stream); }
    Status doHistogram(const HistogramArgs& a) override { return cuda::launchHistogram(a, m_stream); }
    Status doAssignSlots(const AssignSlotsArgs& a) override { return cuda::launchAssignSlots(a, m_stream); }
    Status doBuildDispatch(const BuildDispatchArgs& a) override { return cuda::launchBuildDispatch(a, m_stream); }
    Status doPermute(const PermuteArgs& a) override { return cuda::launchPermute(a, m_stream); }
    Status doPermuteBackward(const PermuteBackwardArgs& a) override { return cuda::launchPermuteBackward(a, m_stream); }
    Status doUnpermuteCombine(const UnpermuteCombineArgs& a) override {
        return cuda::launchUnpermuteCombine(a, m_stream);
    }
    Status doUnpermuteCombineBackward(const UnpermuteCombineBackwardArgs& a) override {
        return cuda::launchUnpermuteCombineBackward(a, m_stream);
    }

private:
    int m_device = 0;
    cudaStream_t m_stream = nullptr;
    std::string m_description;
};

}  // namespace

std::unique_ptr<Backend> makeCudaBackend(std::string* whyNot) {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        if (whyNot)
            *whyNot = err != cudaSuccess ? std::string("no CUDA device: ") + cudaGetErrorString(err)
                                         : std::string("no CUDA device: the driver reports 0 devices");
        return nullptr;
    }
    return std::make_unique<CudaBackend>(0);
}

}  // namespace moe::kernels::detail
