#include "cpu_fused.h"

#include <climits>
#include <cmath>
#include <limits>

#include <ATen/Parallel.h>

#include "batched_matmul.h"
#include "moe_net.h"

namespace moe::train::detail {

namespace {

// Keys query i may see: [first, last).
struct Visible {
    std::int64_t first, last;
};

Visible visibleKeys(std::int64_t i, std::int64_t P, bool causal, std::int64_t window) {
    std::int64_t first = 0, last = causal ? i + 1 : P;
    if (window > 0) {
        first = std::max<std::int64_t>(0, i - window + 1);
        if (!causal) last = std::min(P, i + window);
    }
    return {first, last};
}

// scores[n] = scale q[n] k[n]^T, with -inf where a query may not look.
torch::Tensor maskedScores(const torch::Tensor& q, const torch::Tensor& k, float scale, bool causal, std::int64_t window) {
    const auto N = q.size(0), P = q.size(1), D = q.size(2);
    auto scores = torch::empty({N, P, P}, q.options());
    const float* pq = q.data_ptr<float>();
    const float* pk = k.data_ptr<float>();
    float* ps = scores.data_ptr<float>();
    const int p = static_cast<int>(P), d = static_cast<int>(D);
    const bool masked = causal || window > 0;
    constexpr float hidden = -std::numeric_limits<float>::infinity();
    for (std::int64_t n = 0; n < N; ++n) {
        float* s = ps + n * P * P;
        sgemmRowMajor(false, true, p, p, d, scale, pq + n * P * D, d, pk + n * P * D, d, 0.0f, s, p);
        if (!masked) continue;
        for (std::int64_t i = 0; i < P; ++i) {
            const auto [first, last] = visibleKeys(i, P, causal, window);
            float* row = s + i * P;
            std::fill(row, row + first, hidden);
            std::fill(row + last, row + P, hidden);
        }
    }
    return scores;
}

// out[n] = a[n] b[n] (transA: a[n]^T, transB: b[n]^T), all contiguous; out is [N, m, cols].
void multiplyEach(const torch::Tensor& a, bool transA, const torch::Tensor& b, bool transB, float alpha, torch::Tensor& out) {
    const auto N = out.size(0);
    const int m = static_cast<int>(out.size(1)), cols = static_cast<int>(out.size(2));
    const int k = static_cast<int>(transA ? a.size(1) : a.size(2));
    const int lda = static_cast<int>(a.size(2)), ldb = static_cast<int>(b.size(2));
    const float* pa = a.data_ptr<float>();
    const float* pb = b.data_ptr<float>();
    float* po = out.data_ptr<float>();
    const auto sa = a.size(1) * a.size(2), sb = b.size(1) * b.size(2), so = out.size(1) * out.size(2);
    for (std::int64_t n = 0; n < N; ++n)
        sgemmRowMajor(transA, transB, m, cols, k, alpha, pa + n * sa, lda, pb + n * sb, ldb, 0.0f, po + n * so, cols);
}

class FusedAttentionFn : public torch::autograd::Function<FusedAttentionFn> {
public:
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qIn, const torch::Tensor& kIn,
                                 const torch::Tensor& vIn, double scale, bool causal, std::int64_t window) {
        const auto q = qIn.contiguous(), k = kIn.contiguous(), v = vIn.contiguous();
        auto probs = at::_softmax(maskedScores(q, k, static_cast<float>(scale), causal, window), -1, false);
        auto out = torch::empty({q.size(0), q.size(1), v.size(2)}, q.options());
        multiplyEach(probs, false, v, false, 1.0f, out);
        ctx->save_for_backward({q, k, v, probs});
        ctx->saved_data["scale"] = scale;
        return out;
    }

    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
        const auto saved = ctx->get_saved_variables();
        const auto &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
        const auto scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
        const auto dOut = grads[0].contiguous();
        // dV = P^T dO; dP = dO V^T; dS = softmax'(dP); dQ = scale dS K; dK = scale dS^T Q.
        auto dv = torch::empty_like(v);
        multiplyEach(probs, true, dOut, false, 1.0f, dv);
        auto dProbs = torch::empty_like(probs);
        multiplyEach(dOut, false, v, true, 1.0f, dProbs);
        const auto dScores = at::_softmax_backward_data(dProbs, probs, -1, probs.scalar_type());
        auto dq = torch::empty_like(q), dk = torch::empty_like(k);
        multiplyEach(dScores, false, k, false, scale, dq);
        multiplyEach(dScores, true, q, false, scale, dk);
        return {dq, dk, dv, {}, {}, {}};
    }
};

bool fitsInt(std::int64_t v) { return v >= 0 && v <= INT_MAX; }

}  // namespace

bool fusedCpuAttentionApplies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
    if (!haveBlasSgemm()) return false;
    for (const auto* t : {&q, &k, &v})
        if (t->dim() != 3 || t->numel() == 0 || !t->device().is_cpu() || t->scalar_type() != torch::kFloat) return false;
    const auto N = q.size(0), P = q.size(1);
    if (k.size(0) != N || v.size(0) != N || k.size(1) != P || v.size(1) != P || k.size(2) != q.size(2)) return false;
    return fitsInt(P * P) && fitsInt(q.size(2)) && fitsInt(v.size(2));
}

torch::Tensor fusedCpuAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale, bool causal,
                                std::int64_t window) {
    TORCH_CHECK(fusedCpuAttentionApplies(q, k, v), "fusedCpuAttention wants non-empty float32 CPU tensors [N, P, d], [N, P, d], [N, P, dv]");
    return FusedAttentionFn::apply(q, k, v, scale, causal, window);
}

bool fusedCpuApplies(const torch::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.numel() > 0; }

namespace {

// Rows of `width` floats in chunks of about 32k values, over LibTorch's threads.
template <typename F>
void forRows(std::int64_t rows, std::int64_t width, const F& f) {
    at::parallel_for(0, rows, std::max<std::int64_t>(1, 32768 / std::max<std::int64_t>(1, width)), f);
}

// y = x rotated by +angle (sign 1) or -angle (sign -1), pairs (i, i + half) of each position.
void rotate(const float* x, float* y, const float* cos, const float* sin, std::int64_t rows, std::int64_t P, std::int64_t half,
            float sign) {
    forRows(rows, P * 2 * half, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r)
            for (std::int64_t p = 0; p < P; ++p) {
                const auto at = (r * P + p) * 2 * half;
                const float* a = x + at;
                const float* b = a + half;
                float* ya = y + at;
                float* yb = ya + half;
                const float* c = cos + p * half;
                const float* s = sin + p * half;
                for (std::int64_t i = 0; i < half; ++i) {
                    const float si = sign * s[i];
                    ya[i] = a[i] * c[i] - b[i] * si;
                    yb[i] = b[i] * c[i] + a[i] * si;
                }
            }
    });
}

class RopeFn : public torch::autograd::Function<RopeFn> {
public:
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& xIn, double theta) {
        const auto x = xIn.contiguous();
        const auto P = x.size(-2), dim = x.size(-1), half = dim / 2;
        const auto angles = ropeAngles(P, dim, theta, x.options());
        const auto cos = angles.cos().contiguous(), sin = angles.sin().contiguous();
        auto y = torch::empty_like(x);
        rotate(x.data_ptr<float>(), y.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(), x.numel() / (P * dim), P, half, 1.0f);
        ctx->save_for_backward({cos, sin});
        return y;
    }
    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
        const auto saved = ctx->get_saved_variables();
        const auto &cos = saved[0], &sin = saved[1];
        const auto g = grads[0].contiguous();
        const auto P = g.size(-2), dim = g.size(-1);
        // A rotation's gradient is the rotation back.
        auto dx = torch::empty_like(g);
        rotate(g.data_ptr<float>(), dx.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(), g.numel() / (P * dim), P, dim / 2, -1.0f);
        return {dx, {}};
    }
};

// Sum of a[i] * b[i] in eight lanes (so the compiler may vectorise it).
float dot(const float* a, const float* b, std::int64_t n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) lane[l] += a[i + l] * b[i + l];
    float sum = 0;
    for (; i < n; ++i) sum += a[i] * b[i];
    for (float l : lane) sum += l;
    return sum;
}

class RmsNormFn : public torch::autograd::Function<RmsNormFn> {
public:
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& xIn, const torch::Tensor& wIn, double eps) {
        const auto x = xIn.contiguous(), w = wIn.contiguous();
        const auto n = x.size(-1), rows = x.numel() / n;
        auto y = torch::empty_like(x);
        auto inv = torch::empty({rows}, x.options());
        const float* px = x.data_ptr<float>();
        const float* pw = w.data_ptr<float>();
        float* py = y.data_ptr<float>();
        float* pinv = inv.data_ptr<float>();
        const auto e = static_cast<float>(eps);
        forRows(rows, n, [&](std::int64_t r0, std::int64_t r1) {
            for (std::int64_t r = r0; r < r1; ++r) {
                const float* xr = px + r * n;
                const float v = 1.0f / std::sqrt(dot(xr, xr, n) / static_cast<float>(n) + e);
                pinv[r] = v;
                float* yr = py + r * n;
                for (std::int64_t j = 0; j < n; ++j) yr[j] = xr[j] * v * pw[j];
            }
        });
        ctx->save_for_backward({x, w, inv});
        return y;
    }
    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
        const auto saved = ctx->get_saved_variables();
        const auto &x = saved[0], &w = saved[1], &inv = saved[2];
        const auto g = grads[0].contiguous();
        const auto n = x.size(-1), rows = x.numel() / n;
        auto dx = torch::empty_like(x);
        // Each thread adds its rows' weight gradients into its own row of partial sums.
        auto partial = torch::zeros({at::get_num_threads(), n}, x.options());
        const float* px = x.data_ptr<float>();
        const float* pw = w.data_ptr<float>();
        const float* pg = g.data_ptr<float>();
        const float* pinv = inv.data_ptr<float>();
        float* pdx = dx.data_ptr<float>();
        float* pp = partial.data_ptr<float>();
        // y = w x r, r = (mean(x^2) + eps)^(-1/2): dx = r (w g - x r^2 mean(w g x)); dw = sum g x r.
        forRows(rows, n, [&](std::int64_t r0, std::int64_t r1) {
            float* acc = pp + at::get_thread_num() * n;
            for (std::int64_t r = r0; r < r1; ++r) {
                const float* xr = px + r * n;
                const float* gr = pg + r * n;
                const float v = pinv[r];
                float wgx = 0;
                for (std::int64_t j = 0; j < n; ++j) wgx += pw[j] * gr[j] * xr[j];
                const float c = v * v * wgx / static_cast<float>(n);
                float* dr = pdx + r * n;
                for (std::int64_t j = 0; j < n; ++j) {
                    dr[j] = v * (pw[j] * gr[j] - xr[j] * c);
                    acc[j] += gr[j] * xr[j] * v;
                }
            }
        });
        return {dx, partial.sum(0).view(w.sizes()), {}};
    }
};

}  // namespace

torch::Tensor fusedCpuRope(const torch::Tensor& x, double theta) {
    TORCH_CHECK(fusedCpuApplies(x) && x.dim() >= 2 && x.size(-1) % 2 == 0, "fusedCpuRope wants a float32 CPU tensor [..., P, even dim]");
    return RopeFn::apply(x, theta);
}

torch::Tensor fusedCpuRmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    TORCH_CHECK(fusedCpuApplies(x) && fusedCpuApplies(weight) && weight.dim() == 1 && x.size(-1) == weight.size(0),
                "fusedCpuRmsNorm wants float32 CPU x [..., n] and weight [n]");
    return RmsNormFn::apply(x, weight, eps);
}

}  // namespace moe::train::detail
