#pragma once
// One API over several backends, chosen at run time.
//
//   auto* be = moe::kernels::backend(BackendKind::CpuFast);   // nullptr if not available here
//   if (be && be->supports(Op::Permute)) status = be->permute(args);
//
// Every entry point validates its arguments first (InvalidArgument names the field and what
// would be valid), then returns NotSupported if the backend lacks the op. CPU backends also
// check index contents (expert ids in [-1, E), slots in [-1, S)); the CUDA backend cannot without a
// device round trip and treats an out-of-range expert id as -1.
//
// Memory: CPU backends take host pointers; the CUDA backend takes device pointers (use its
// allocate/copy helpers or a CUDA LibTorch's tensors) and runs on its stream asynchronously;
// synchronize() waits.

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "moe/kernels/capacity.h"
#include "moe/kernels/gating.h"
#include "moe/kernels/permute.h"
#include "moe/kernels/types.h"

namespace moe::kernels {

class Backend {
public:
    virtual ~Backend() = default;
    virtual BackendKind kind() const = 0;
    std::string_view name() const { return toString(kind()); }
    virtual bool supports(Op op) const = 0;
    // One line about the hardware it runs on, e.g. thread count or device name.
    virtual std::string description() const = 0;

    Status gatingForward(const GatingForwardArgs& a);
    Status gatingBackward(const GatingBackwardArgs& a);
    Status histogram(const HistogramArgs& a);
    Status assignSlots(const AssignSlotsArgs& a);
    Status buildDispatch(const BuildDispatchArgs& a);
    Status permute(const PermuteArgs& a);
    Status permuteBackward(const PermuteBackwardArgs& a);
    Status unpermuteCombine(const UnpermuteCombineArgs& a);
    Status unpermuteCombineBackward(const UnpermuteCombineBackwardArgs& a);

    // Memory of this backend (host memory for the CPU backends).
    virtual bool deviceMemory() const { return false; }
    virtual void* allocate(size_t bytes);
    virtual void release(void* p);
    virtual Status copyToBackend(void* dst, const void* src, size_t bytes);
    virtual Status copyToHost(void* dst, const void* src, size_t bytes);
    virtual Status synchronize() { return Status::ok(); }

protected:
    // Called with validated arguments, only for ops that supports() says yes to.
    virtual Status doGatingForward(const GatingForwardArgs&) { return unsupported(Op::GatingForward); }
    virtual Status doGatingBackward(const GatingBackwardArgs&) { return unsupported(Op::GatingBackward); }
    virtual Status doHistogram(const HistogramArgs&) { return unsupported(Op::Histogram); }
    virtual Status doAssignSlots(const AssignSlotsArgs&) { return unsupported(Op::AssignSlots); }
    virtual Status doBuildDispatch(const BuildDispatchArgs&) { return unsupported(Op::BuildDispatch); }
    virtual Status doPermute(const PermuteArgs&) { return unsupported(Op::Permute); }
    virtual Status doPermuteBackward(const PermuteBackwardArgs&) { return unsupported(Op::PermuteBackward); }
    virtual Status doUnpermuteCombine(const UnpermuteCombineArgs&) { return unsupported(Op::UnpermuteCombine); }
    virtual Status doUnpermuteCombineBackward(const UnpermuteCombineBackwardArgs&) {
        return unsupported(Op::UnpermuteCombineBackward);
    }
    Status unsupported(Op op) const;
};

// ---- registry ------------------------------------------------------------------------------
// Backends available in this build on this machine, reference first. CUDA is listed only when
// it was compiled in and a device answers.
const std::vector<Backend*>& availableBackends();
Backend* backend(BackendKind kind);  // nullptr if not available
// Why a backend is missing ("not compiled in", "no CUDA device: ..."); empty if available.
std::string unavailableReason(BackendKind kind);
// The backend for host memory the engine should use: CpuFast.
Backend& hostBackend();
Backend& referenceBackend();

// Threads used by the CpuFast backend: LibTorch's intra-op count when LibTorch set it (both use
// the same OpenMP runtime), else the OpenMP default.
int cpuThreads();

}  // namespace moe::kernels
