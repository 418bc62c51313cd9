#include <cstdlib>
#include <cstring>

#include "moe/kernels/backend.h"

namespace moe::kernels {

std::string_view toString(Op op) {
    switch (op) {
    case Op::GatingForward: return "gating_forward";
    case Op::GatingBackward: return "gating_backward";
    case Op::Histogram: return "histogram";
    case Op::AssignSlots: return "assign_slots";
    case Op::BuildDispatch: return "build_dispatch";
    case Op::Permute: return "permute";
    case Op::PermuteBackward: return "permute_backward";
    case Op::UnpermuteCombine: return "unpermute_combine";
    case Op::UnpermuteCombineBackward: return "unpermute_combine_backward";
    }
    return "?";
}

std::string_view toString(BackendKind kind) {
    switch (kind) {
    case BackendKind::Reference: return "reference";
    case BackendKind::CpuFast: return "cpu_fast";
    case BackendKind::Cuda: return "cuda";
    }
    return "?";
}

std::string_view toString(ScoreFn fn) { return fn == ScoreFn::Softmax ? "softmax" : "sigmoid"; }
std::string_view toString(DropPolicy policy) { return policy == DropPolicy::Probs ? "probs" : "position"; }

Status Backend::unsupported(Op op) const {
    return Status::notSupported(std::string(name()) + " backend does not implement " + std::string(toString(op)));
}

// Validate, then refuse unsupported ops before reaching the implementation.
#define MOE_KERNELS_DISPATCH(OP, FN, ARGS)                \
    if (auto s = validate(ARGS); !s) return s;            \
    if (!supports(OP)) return unsupported(OP);            \
    return FN(ARGS)

Status Backend::gatingForward(const GatingForwardArgs& a) { MOE_KERNELS_DISPATCH(Op::GatingForward, doGatingForward, a); }
Status Backend::gatingBackward(const GatingBackwardArgs& a) { MOE_KERNELS_DISPATCH(Op::GatingBackward, doGatingBackward, a); }
Status Backend::histogram(const HistogramArgs& a) { MOE_KERNELS_DISPATCH(Op::Histogram, doHistogram, a); }
Status Backend::assignSlots(const AssignSlotsArgs& a) { MOE_KERNELS_DISPATCH(Op::AssignSlots, doAssignSlots, a); }
Status Backend::buildDispatch(const BuildDispatchArgs& a) { MOE_KERNELS_DISPATCH(Op::BuildDispatch, doBuildDispatch, a); }
Status Backend::permute(const PermuteArgs& a) { MOE_KERNELS_DISPATCH(Op::Permute, doPermute, a); }
Status Backend::permuteBackward(const PermuteBackwardArgs& a) { MOE_KERNELS_DISPATCH(Op::PermuteBackward, doPermuteBackward, a); }
Status Backend::unpermuteCombine(const UnpermuteCombineArgs& a) {
    MOE_KERNELS_DISPATCH(Op::UnpermuteCombine, doUnpermuteCombine, a);
}
Status Backend::unpermuteCombineBackward(const UnpermuteCombineBackwardArgs& a) {
    MOE_KERNELS_DISPATCH(Op::UnpermuteCombineBackward, doUnpermuteCombineBackward, a);
}
#undef MOE_KERNELS_DISPATCH

void* Backend::allocate(size_t bytes) { return bytes ? std::malloc(bytes) : nullptr; }
void Backend::release(void* p) { std::free(p); }
Status Backend::copyToBackend(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
    return Status::ok();
}
Status Backend::copyToHost(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
    return Status::ok();
}

}  // namespace moe::kernels
