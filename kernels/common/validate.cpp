// Argument checks shared by every backend: shapes and pointers. Messages name the field and
// what would be valid, because they reach users through the trainer and the CLI.
#include <cmath>
#include <limits>
#include <string>

#include "moe/kernels/capacity.h"
#include "moe/kernels/gating.h"
#include "moe/kernels/permute.h"

namespace moe::kernels {
namespace {

// Element counts must fit in int64 with room for products like T * k * d.
constexpr int64_t kMaxExtent = int64_t{1} << 40;

std::string str(int64_t v) { return std::to_string(v); }

Status checkExtent(const char* op, const char* field, int64_t v, int64_t lo) {
    if (v < lo || v > kMaxExtent)
        return Status::invalid(std::string(op) + ": " + field + " = " + str(v) + " must be in [" + str(lo) +
                               ", 2^40]");
    return Status::ok();
}

Status checkPtr(const char* op, const char* field, const void* p, int64_t elements) {
    if (p == nullptr && elements > 0)
        return Status::invalid(std::string(op) + ": " + field + " is null but must hold " + str(elements) +
                               " elements");
    return Status::ok();
}

Status checkGatingParams(const char* op, const GatingParams& p) {
    if (auto s = checkExtent(op, "tokens", p.tokens, 0); !s) return s;
    if (auto s = checkExtent(op, "experts", p.experts, 1); !s) return s;
    if (p.k < 1 || p.k > p.experts)
        return Status::invalid(std::string(op) + ": k = " + str(p.k) + " must be in [1, experts = " +
                               str(p.experts) + "]");
    if (!(p.temperature > 0.0f) || !std::isfinite(p.temperature))
        return Status::invalid(std::string(op) + ": temperature = " + std::to_string(p.temperature) +
                               " must be a finite number > 0");
    if (p.tokens * p.experts > kMaxExtent)
        return Status::invalid(std::string(op) + ": tokens x experts is too large");
    return Status::ok();
}

Status checkTk(const char* op, int64_t tokens, int64_t k) {
    if (auto s = checkExtent(op, "tokens", tokens, 0); !s) return s;
    if (auto s = checkExtent(op, "k", k, 1); !s) return s;
    if (tokens * k > kMaxExtent) return Status::invalid(std::string(op) + ": tokens x k is too large");
    return Status::ok();
}

Status checkRowsDim(const char* op, int64_t rows, int64_t dim, int64_t maxRows) {
    if (auto s = checkExtent(op, "rows", rows, 0); !s) return s;
    if (auto s = checkExtent(op, "dim", dim, 0); !s) return s;
    if (maxRows >= 0 && rows > maxRows)
        return Status::invalid(std::string(op) + ": rows = " + str(rows) + " exceeds tokens x k = " + str(maxRows));
    if (rows > 0 && dim > kMaxExtent / rows) return Status::invalid(std::string(op) + ": rows x dim is too large");
    return Status::ok();
}

}  // namespace

Status validate(const GatingForwardArgs& a) {
    const char* op = "gating forward";
    if (auto s = checkGatingParams(op, a.p); !s) return s;
    const int64_t te = a.p.tokens * a.p.experts, tk = a.p.tokens * a.p.k;
    for (auto s : {checkPtr(op, "logits", a.logits, te), checkPtr(op, "probs", a.probs, te),
                   checkPtr(op, "expertIdx", a.expertIdx, tk), checkPtr(op, "gates", a.gates, tk)})
        if (!s) return s;
    return Status::ok();
}

Status validate(const GatingBackwardArgs& a) {
    const char* op = "gating backward";
    if (auto s = checkGatingParams(op, a.p); !s) return s;
    const int64_t te = a.p.tokens * a.p.experts, tk = a.p.tokens * a.p.k;
    for (auto s : {checkPtr(op, "probs", a.probs, te), checkPtr(op, "expertIdx", a.expertIdx, tk),
                   checkPtr(op, "gates", a.gates, tk), checkPtr(op, "dGates", a.dGates, tk),
                   checkPtr(op, "dLogits", a.dLogits, te)})
        if (!s) return s;
    return Status::ok();
}

Status validate(const HistogramArgs& a) {
    const char* op = "histogram";
    if (auto s = checkExtent(op, "assignments", a.assignments, 0); !s) return s;
    if (auto s = checkExtent(op, "experts", a.experts, 1); !s) return s;
    if (auto s = checkPtr(op, "expertIdx", a.expertIdx, a.assignments); !s) return s;
    return checkPtr(op, "counts", a.counts, a.experts);
}

Status validate(const AssignSlotsArgs& a) {
    const char* op = "assign slots";
    if (auto s = checkTk(op, a.tokens, a.k); !s) return s;
    if (auto s = checkExtent(op, "experts", a.experts, 1); !s) return s;
    if (a.capacity > kMaxExtent)
        return Status::invalid(std::string(op) + ": capacity = " + str(a.capacity) + " must be <= 2^40");
    const int64_t tk = a.tokens * a.k;
    for (auto s : {checkPtr(op, "expertIdx", a.expertIdx, tk),
                   checkPtr(op, "gates", a.gates,
                            a.policy == DropPolicy::Probs && a.capacity >= 0 ? tk : 0),
                   checkPtr(op, "slot", a.slot, tk), checkPtr(op, "dropped", a.dropped, tk),
                   checkPtr(op, "kept", a.kept, a.experts)})
        if (!s) return s;
    return Status::ok();
}

Status validate(const BuildDispatchArgs& a) {
    const char* op = "build dispatch";
    if (auto s = checkTk(op, a.tokens, a.k); !s) return s;
    if (auto s = checkExtent(op, "experts", a.experts, 1); !s) return s;
    const int64_t tk = a.tokens * a.k;
    for (auto s : {checkPtr(op, "expertIdx", a.expertIdx, tk), checkPtr(op, "offsets", a.offsets, a.experts + 1),
                   checkPtr(op, "slotOf", a.slotOf, tk), checkPtr(op, "rowToken", a.rowToken, tk),
                   checkPtr(op, "rowAssign", a.rowAssign, tk)})
        if (!s) return s;
    return Status::ok();
}

Status validate(const PermuteArgs& a) {
    const char* op = "permute";
    if (auto s = checkExtent(op, "tokens", a.tokens, 0); !s) return s;
    if (auto s = checkRowsDim(op, a.rows, a.dim, -1); !s) return s;
    if (a.tokens > 0 && a.dim > kMaxExtent / a.tokens) return Status::invalid("permute: tokens x dim is too large");
    const int64_t rd = a.rows * a.dim;
    for (auto s : {checkPtr(op, "x", a.x, a.tokens * a.dim), checkPtr(op, "rowToken", a.rowToken, a.rows),
                   checkPtr(op, "out", a.out, rd)})
        if (!s) return s;
    return Status::ok();
}

Status validate(const PermuteBackwardArgs& a) {
    const char* op = "permute backward";
    if (auto s = checkTk(op, a.tokens, a.k); !s) return s;
    if (auto s = checkRowsDim(op, a.rows, a.dim, a.tokens * a.k); !s) return s;
    for (auto s : {checkPtr(op, "dTokens", a.dTokens, a.rows * a.dim), checkPtr(op, "slotOf", a.slotOf, a.tokens * a.k),
                   checkPtr(op, "dX", a.dX, a.tokens * a.dim)})
        if (!s) return s;
    return Status::ok();
}

Status validate(const UnpermuteCombineArgs& a) {
    const char* op = "unpermute combine";
    if (auto s = checkTk(op, a.tokens, a.k); !s) return s;
    if (auto s = checkRowsDim(op, a.rows, a.dim, a.tokens * a.k); !s) return s;
    const int64_t tk = a.tokens * a.k;
    for (auto s : {checkPtr(op, "y", a.y, a.rows * a.dim), checkPtr(op, "slotOf", a.slotOf, tk),
                   checkPtr(op, "gates", a.gates, tk), checkPtr(op, "out", a.out, a.tokens * a.dim)})
        if (!s) return s;
    return Status::ok();
}

Status validate(const UnpermuteCombineBackwardArgs& a) {
    const char* op = "unpermute combine backward";
    if (auto s = checkTk(op, a.tokens, a.k); !s) return s;
    if (auto s = checkRowsDim(op, a.rows, a.dim, a.tokens * a.k); !s) return s;
    const int64_t tk = a.tokens * a.k;
    if ((a.rowToken == nullptr) != (a.rowAssign == nullptr))
        return Status::invalid(std::string(op) + ": pass both rowToken and rowAssign, or neither");
    for (auto s : {checkPtr(op, "dOut", a.dOut, a.tokens * a.dim), checkPtr(op, "y", a.y, a.dGates ? a.rows * a.dim : 0),
                   checkPtr(op, "slotOf", a.slotOf, tk), checkPtr(op, "gates", a.gates, a.dY ? tk : 0)})
        if (!s) return s;
    return Status::ok();
}

int64_t capacityFor(double factor, int64_t tokens, int64_t k, int64_t experts) {
    if (experts <= 0 || !(factor > 0.0) || !std::isfinite(factor)) return 0;
    const double c = std::ceil(factor * static_cast<double>(tokens) * static_cast<double>(k) /
                               static_cast<double>(experts));
    return c > static_cast<double>(kMaxExtent) ? kMaxExtent : static_cast<int64_t>(c);
}

}  // namespace moe::kernels
