#pragma once
// Vocabulary shared by every kernel header: the ops, the backends and the outcome of a call.
// Torch-free and CUDA-free, so any module may include it.

#include <cstdint>
#include <string>
#include <string_view>

namespace moe::kernels {

// Every op a backend may implement. supports(op) answers per op, so a backend can land one op
// at a time (the CPU reference always implements all of them: it is the specification).
enum class Op {
    GatingForward,             // gating.h
    GatingBackward,            // gating.h
    Histogram,                 // capacity.h
    AssignSlots,               // capacity.h
    BuildDispatch,             // permute.h
    Permute,                   // permute.h
    PermuteBackward,           // permute.h
    UnpermuteCombine,          // permute.h
    UnpermuteCombineBackward,  // permute.h
};
inline constexpr Op kAllOps[] = {Op::GatingForward, Op::GatingBackward,   Op::Histogram,
                                 Op::AssignSlots,   Op::BuildDispatch,    Op::Permute,
                                 Op::PermuteBackward, Op::UnpermuteCombine, Op::UnpermuteCombineBackward};
std::string_view toString(Op op);

enum class BackendKind {
    Reference,  // plain single-threaded loops: the specification
    CpuFast,    // multi-threaded (OpenMP, shares LibTorch's thread count), cache-friendly
    Cuda,       // NVIDIA GPUs; buffers are device pointers
};
std::string_view toString(BackendKind kind);

enum class ScoreFn { Softmax, Sigmoid };
std::string_view toString(ScoreFn fn);

// Which assignments overflow an expert's capacity: Probs drops the lowest gates, Position drops
// the latest tokens (matching moe::spec::DropPolicy).
enum class DropPolicy { Probs, Position };
std::string_view toString(DropPolicy policy);

// The outcome of a call. NotSupported is its own outcome (not an error): the caller falls back
// to another backend.
struct Status {
    enum class Code { Ok, NotSupported, InvalidArgument, RuntimeError };
    Code code = Code::Ok;
    std::string message;  // names the argument and what would be valid

    static Status ok() { return {}; }
    static Status notSupported(std::string what) { return {Code::NotSupported, std::move(what)}; }
    static Status invalid(std::string what) { return {Code::InvalidArgument, std::move(what)}; }
    static Status runtime(std::string what) { return {Code::RuntimeError, std::move(what)}; }
    bool isOk() const { return code == Code::Ok; }
    explicit operator bool() const { return isOk(); }
};

}  // namespace moe::kernels
