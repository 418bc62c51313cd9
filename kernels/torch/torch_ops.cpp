// LibTorch autograd functions over the kernel backends, and the plain LibTorch composites they
// replace. Only this file (and tests/bench) pays for the torch headers.
#include "moe/kernels/torch_ops.h"

#include <torch/csrc/autograd/custom_function.h>

#include <string>

#include "moe/kernels/backend.h"

namespace moe::kernels::torch_ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void check(const Status& s, const char* where) {
    TORCH_CHECK(s.isOk(), "moe::kernels::torch_ops::", where, ": ", s.message);
}

Backend& backendFor(const at::Tensor& t, const char* where) {
    if (t.is_cuda()) {
        Backend* b = backend(BackendKind::Cuda);
        TORCH_CHECK(b != nullptr, "moe::kernels::torch_ops::", where,
                    ": tensor is on CUDA but the CUDA kernels are unavailable: ", unavailableReason(BackendKind::Cuda));
        return *b;
    }
    TORCH_CHECK(t.is_cpu(), "moe::kernels::torch_ops::", where, ": tensors must be on the CPU or a CUDA device, got ",
                t.device());
    return hostBackend();
}

void expectFloat(const at::Tensor& t, const char* where, const char* name) {
    TORCH_CHECK(t.defined(), "moe::kernels::torch_ops::", where, ": ", name, " is undefined");
    TORCH_CHECK(t.scalar_type() == at::kFloat, "moe::kernels::torch_ops::", where, ": ", name,
                " must be float32, got ", t.scalar_type());
}

void expectLong2d(const at::Tensor& t, const char* where, const char* name) {
    TORCH_CHECK(t.defined() && t.scalar_type() == at::kLong && t.dim() == 2, "moe::kernels::torch_ops::", where, ": ",
                name, " must be a 2-d int64 tensor [T, k]");
}

void expectSameDevice(const at::Tensor& a, const at::Tensor& b, const char* where) {
    TORCH_CHECK(a.device() == b.device(), "moe::kernels::torch_ops::", where, ": tensors on different devices (",
                a.device(), " and ", b.device(), ")");
}

// ---- permute ---------------------------------------------------------------------------------

struct PermuteFn : public torch::autograd::Function<PermuteFn> {
    static variable_list forward(AutogradContext* ctx, const at::Tensor& xIn, const at::Tensor& expertIdxIn,
                                 int64_t experts) {
        const char* where = "permute";
        expectFloat(xIn, where, "x");
        TORCH_CHECK(xIn.dim() == 2, "moe::kernels::torch_ops::permute: x must be [T, d], got ", xIn.sizes());
        expectLong2d(expertIdxIn, where, "expertIdx");
        expectSameDevice(xIn, expertIdxIn, where);
        TORCH_CHECK(expertIdxIn.size(0) == xIn.size(0), "moe::kernels::torch_ops::permute: expertIdx has ",
                    expertIdxIn.size(0), " rows but x has ", xIn.size(0), " tokens");
        TORCH_CHECK(experts >= 1, "moe::kernels::torch_ops::permute: experts = ", experts, " must be >= 1");
        const at::Tensor x = xIn.contiguous(), expertIdx = expertIdxIn.contiguous();
        Backend& be = backendFor(x, where);
        const int64_t T = x.size(0), d = x.size(1), k = expertIdx.size(1);
        const auto lopt = expertIdx.options();
        at::Tensor offsets = at::empty({experts + 1}, lopt);
        at::Tensor slotOf = at::empty({T, k}, lopt);
        at::Tensor rowToken = at::empty({T * k}, lopt);
        at::Tensor rowAssign = at::empty({T * k}, lopt);
        check(be.buildDispatch({T, k, experts, expertIdx.data_ptr<int64_t>(), offsets.data_ptr<int64_t>(),
                                slotOf.data_ptr<int64_t>(), rowToken.data_ptr<int64_t>(), rowAssign.data_ptr<int64_t>()}),
              where);
        const int64_t S = offsets[experts].item<int64_t>();
        at::Tensor tokens = at::empty({S, d}, x.options());
        check(be.permute({T, S, d, x.data_ptr<float>(), rowToken.data_ptr<int64_t>(), tokens.data_ptr<float>()}), where);
        ctx->save_for_backward({slotOf});
        ctx->saved_data["rows"] = S;
        ctx->mark_non_differentiable({offsets, slotOf});
        return {tokens, offsets, slotOf};
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const at::Tensor slotOf = ctx->get_saved_variables()[0];
        const int64_t S = ctx->saved_data["rows"].toInt();
        if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
        const at::Tensor dTokens = grads[0].contiguous();
        const int64_t T = slotOf.size(0), k = slotOf.size(1), d = dTokens.size(1);
        at::Tensor dX = at::empty({T, d}, dTokens.options());
        check(backendFor(dTokens, "permute backward")
                  .permuteBackward({T, k, S, d, dTokens.data_ptr<float>(), slotOf.data_ptr<int64_t>(), dX.data_ptr<float>()}),
              "permute backward");
        return {dX, at::Tensor(), at::Tensor()};
    }
};

// ---- unpermute-combine -----------------------------------------------------------------------

struct CombineFn : public torch::autograd::Function<CombineFn> {
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& yIn, const at::Tensor& slotOfIn,
                              const at::Tensor& gatesIn, int64_t tokens) {
        const char* where = "unpermuteCombine";
        expectFloat(yIn, where, "y");
        expectFloat(gatesIn, where, "gates");
        expectLong2d(slotOfIn, where, "slotOf");
        TORCH_CHECK(yIn.dim() == 2, "moe::kernels::torch_ops::unpermuteCombine: y must be [S, d], got ", yIn.sizes());
        TORCH_CHECK(gatesIn.sizes() == slotOfIn.sizes(), "moe::kernels::torch_ops::unpermuteCombine: gates ",
                    gatesIn.sizes(), " and slotOf ", slotOfIn.sizes(), " must have the same shape [T, k]");
        TORCH_CHECK(slotOfIn.size(0) == tokens, "moe::kernels::torch_ops::unpermuteCombine: tokens = ", tokens,
                    " but slotOf has ", slotOfIn.size(0), " rows");
        expectSameDevice(yIn, slotOfIn, where);
        expectSameDevice(yIn, gatesIn, where);
        const at::Tensor y = yIn.contiguous(), slotOf = slotOfIn.contiguous(), gates = gatesIn.contiguous();
        const int64_t S = y.size(0), d = y.size(1), k = slotOf.size(1);
        at::Tensor out = at::empty({tokens, d}, y.options());
        check(backendFor(y, where)
                  .unpermuteCombine({tokens, k, S, d, y.data_ptr<float>(), slotOf.data_ptr<int64_t>(),
                                     gates.data_ptr<float>(), out.data_ptr<float>()}),
              where);
        ctx->save_for_backward({y, slotOf, gates});
        return out;
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &y = saved[0], &slotOf = saved[1], &gates = saved[2];
        if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
        const at::Tensor dOut = grads[0].contiguous();
        const int64_t T = slotOf.size(0), k = slotOf.size(1), S = y.size(0), d = y.size(1);
        const bool wantY = ctx->needs_input_grad(0), wantG = ctx->needs_input_grad(2);
        at::Tensor dY = wantY ? at::empty({S, d}, y.options()) : at::Tensor();
        at::Tensor dG = wantG ? at::empty({T, k}, gates.options()) : at::Tensor();
        if (!wantY && !wantG) return {dY, at::Tensor(), dG, at::Tensor()};
        // No row maps: each backend derives what it needs from slotOf.
        check(backendFor(y, "unpermuteCombine backward")
                  .unpermuteCombineBackward({T, k, S, d, dOut.data_ptr<float>(), y.data_ptr<float>(),
                                           slotOf.data_ptr<int64_t>(), nullptr, nullptr, gates.data_ptr<float>(), wantY ? dY.data_ptr<float>() : nullptr,
                                           wantG ? dG.data_ptr<float>() : nullptr}),
              "unpermuteCombine backward");
        return {dY, at::Tensor(), dG, at::Tensor()};
    }
};

// ---- gating ----------------------------------------------------------------------------------

struct GatingFn : public torch::autograd::Function<GatingFn> {
    static variable_list forward(AutogradContext* ctx, const at::Tensor& logitsIn, const at::Tensor& biasIn,
                                 int64_t k, int64_t score, double temperature, bool renormalize) {
        const char* where = "gating";
        expectFloat(logitsIn, where, "logits");
        TORCH_CHECK(logitsIn.dim() == 2, "moe::kernels::torch_ops::gating: logits must be [T, E], got ", logitsIn.sizes());
        const at::Tensor logits = logitsIn.contiguous();
        const int64_t T = logits.size(0), E = logits.size(1);
        at::Tensor bias;
        if (biasIn.numel() > 0) {  // an empty tensor stands for "no bias" (autograd needs defined inputs)
            expectFloat(biasIn, where, "bias");
            expectSameDevice(logitsIn, biasIn, where);
            TORCH_CHECK(biasIn.dim() == 1 && biasIn.size(0) == E, "moe::kernels::torch_ops::gating: bias must be [E = ",
                        E, "], got ", biasIn.sizes());
            bias = biasIn.contiguous();
        }
        const GatingParams p{T, E, k, static_cast<ScoreFn>(score), static_cast<float>(temperature), renormalize};
        at::Tensor probs = at::empty({T, E}, logits.options());
        at::Tensor gates = at::empty({T, k > 0 ? k : 0}, logits.options());
        at::Tensor idx = at::empty({T, k > 0 ? k : 0}, logits.options().dtype(at::kLong));
        check(backendFor(logits, where)
                  .gatingForward({p, logits.data_ptr<float>(), bias.defined() ? bias.data_ptr<float>() : nullptr,
                                  probs.data_ptr<float>(), idx.data_ptr<int64_t>(), gates.data_ptr<float>()}),
              where);
        ctx->save_for_backward({probs, idx, gates});
        ctx->saved_data["score"] = score;
        ctx->saved_data["temperature"] = temperature;
        ctx->saved_data["renormalize"] = renormalize;
        ctx->mark_non_differentiable({idx});
        return {probs, gates, idx};
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &probs = saved[0], &idx = saved[1], &gates = saved[2];
        const at::Tensor dProbs = grads[0].defined() ? grads[0].contiguous() : at::Tensor();
        const at::Tensor dGates = grads[1].defined() ? grads[1].contiguous() : at::zeros_like(gates);
        const int64_t T = probs.size(0), E = probs.size(1), k = idx.size(1);
        const GatingParams p{T, E, k, static_cast<ScoreFn>(ctx->saved_data["score"].toInt()),
                             static_cast<float>(ctx->saved_data["temperature"].toDouble()),
                             ctx->saved_data["renormalize"].toBool()};
        at::Tensor dLogits = at::empty({T, E}, probs.options());
        check(backendFor(probs, "gating backward")
                  .gatingBackward({p, probs.data_ptr<float>(), idx.data_ptr<int64_t>(), gates.data_ptr<float>(),
                                   dGates.data_ptr<float>(), dProbs.defined() ? dProbs.data_ptr<float>() : nullptr,
                                   dLogits.data_ptr<float>()}),
              "gating backward");
        return {dLogits, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

}  // namespace

Permuted permute(const at::Tensor& x, const at::Tensor& expertIdx, int64_t experts) {
    auto out = PermuteFn::apply(x, expertIdx, experts);
    return {out[0], out[1], out[2]};
}

at::Tensor unpermuteCombine(const at::Tensor& y, const at::Tensor& slotOf, const at::Tensor& gates, int64_t tokens) {
    return CombineFn::apply(y, slotOf, gates, tokens);
}

Gating gating(const at::Tensor& logits, int64_t k, ScoreFn score, double temperature, bool renormalize,
              const at::Tensor& bias) {
    const at::Tensor noBias = at::empty({0}, logits.defined() ? logits.options() : at::TensorOptions());
    auto out = GatingFn::apply(logits, bias.defined() ? bias : noBias, k, static_cast<int64_t>(score), temperature, renormalize);
    return {out[0], out[1], out[2]};
}

Slots assignSlots(const at::Tensor& expertIdxIn, const at::Tensor& gatesIn, int64_t experts, int64_t capacity,
                  DropPolicy policy, SlotPriority priority) {
    const char* where = "assignSlots";
    expectLong2d(expertIdxIn, where, "expertIdx");
    if (priority == SlotPriority::ChoiceMajor) {
        // Flat order of the transposed problem is (j, t): the kernel's token order becomes choice-major.
        Slots s = assignSlots(expertIdxIn.t(), gatesIn.defined() ? gatesIn.t() : gatesIn, experts, capacity, policy,
                              SlotPriority::TokenMajor);
        return {s.expertIdx.t().contiguous(), s.slot.t().contiguous(), s.dropped.t().contiguous(), s.kept};
    }
    const at::Tensor expertIdx = expertIdxIn.contiguous();
    at::Tensor gates;
    if (gatesIn.defined()) {
        expectFloat(gatesIn, where, "gates");
        expectSameDevice(expertIdxIn, gatesIn, where);
        TORCH_CHECK(gatesIn.sizes() == expertIdxIn.sizes(), "moe::kernels::torch_ops::assignSlots: gates ",
                    gatesIn.sizes(), " must match expertIdx ", expertIdxIn.sizes());
        gates = gatesIn.detach().contiguous();
    }
    TORCH_CHECK(gates.defined() || policy == DropPolicy::Position || capacity < 0,
                "moe::kernels::torch_ops::assignSlots: the probs drop policy needs gates");
    const int64_t T = expertIdx.size(0), k = expertIdx.size(1);
    Slots s;
    s.slot = at::empty({T, k}, expertIdx.options());
    at::Tensor dropped = at::empty({T, k}, expertIdx.options().dtype(at::kByte));
    s.kept = at::empty({experts > 0 ? experts : 0}, expertIdx.options());
    check(backendFor(expertIdx, where)
              .assignSlots({T, k, experts, capacity, policy, expertIdx.data_ptr<int64_t>(),
                            gates.defined() ? gates.data_ptr<float>() : nullptr, s.slot.data_ptr<int64_t>(),
                            dropped.data_ptr<uint8_t>(), s.kept.data_ptr<int64_t>()}),
          where);
    s.dropped = dropped.to(at::kBool);
    s.expertIdx = expertIdx.masked_fill(s.dropped, -1);
    return s;
}

at::Tensor histogram(const at::Tensor& expertIdxIn, int64_t experts) {
    TORCH_CHECK(expertIdxIn.defined() && expertIdxIn.scalar_type() == at::kLong,
                "moe::kernels::torch_ops::histogram: expertIdx must be an int64 tensor");
    const at::Tensor expertIdx = expertIdxIn.contiguous();
    at::Tensor counts = at::empty({experts > 0 ? experts : 0}, expertIdx.options());
    check(backendFor(expertIdx, "histogram")
              .histogram({expertIdx.numel(), experts, expertIdx.data_ptr<int64_t>(), counts.data_ptr<int64_t>()}),
          "histogram");
    return counts;
}

// ---- composites (plain LibTorch) ---------------------------------------------------------------

namespace composite {

Permuted permute(const at::Tensor& x, const at::Tensor& expertIdx, int64_t experts) {
    const int64_t k = expertIdx.size(1);
    const at::Tensor flat = expertIdx.reshape({-1});
    const at::Tensor valid = flat.ge(0);
    // Stable sort by expert (dropped last) gives expert-major, token-order rows.
    const at::Tensor key = at::where(valid, flat, at::full_like(flat, experts));
    const at::Tensor order = std::get<1>(at::sort(key, /*stable=*/true, /*dim=*/0, /*descending=*/false));
    const at::Tensor counts = at::bincount(flat.masked_select(valid), {}, experts);
    const int64_t S = counts.sum().item<int64_t>();
    const at::Tensor rowAssign = order.narrow(0, 0, S);
    Permuted p;
    p.tokens = x.index_select(0, at::div(rowAssign, k, "floor"));
    p.offsets = at::cat({at::zeros({1}, counts.options()), counts.cumsum(0)});
    p.slotOf = at::full({flat.numel()}, -1, flat.options())
                   .index_put_({rowAssign}, at::arange(S, flat.options()))
                   .reshape(expertIdx.sizes());
    return p;
}

at::Tensor unpermuteCombine(const at::Tensor& y, const at::Tensor& slotOf, const at::Tensor& gates, int64_t tokens) {
    const int64_t k = slotOf.size(1);
    const at::Tensor flat = slotOf.reshape({-1});
    const at::Tensor assign = flat.ge(0).nonzero().squeeze(1);
    const at::Tensor rows = flat.index_select(0, assign);
    const at::Tensor contrib = y.index_select(0, rows) * gates.reshape({-1}).index_select(0, assign).unsqueeze(1);
    return at::zeros({tokens, y.size(1)}, y.options()).index_add(0, at::div(assign, k, "floor"), contrib);
}

Gating gating(const at::Tensor& logits, int64_t k, ScoreFn score, double temperature, bool renormalize,
              const at::Tensor& bias) {
    const at::Tensor z = logits / temperature;
    Gating g;
    g.probs = score == ScoreFn::Softmax ? at::softmax(z, 1) : at::sigmoid(z);
    const at::Tensor select = bias.defined() ? g.probs.detach() + bias : g.probs.detach();
    g.expertIdx = std::get<1>(at::topk(select, k, 1));
    g.gates = g.probs.gather(1, g.expertIdx);
    if (renormalize) g.gates = g.gates / (g.gates.sum(1, true) + kRenormEps);
    return g;
}

}  // namespace composite

}  // namespace moe::kernels::torch_ops
