#include "cpu_fused.h"

#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>

#include "cpu_blas.h"
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

// e^x for x <= 0 (softmax's shifted scores), to about 2 ulp, in a form the compiler vectorises:
// e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2) / 2, e^r from its Taylor polynomial
// (degree 6: the first omitted term is below 2^-24 there), 2^n written into a float's exponent.
// Below -87 it returns e^-87 (about 1.6e-38, against a softmax sum of at least 1), so 2^n stays a
// normal float and the loop has no branch to keep it from vectorising.
inline float expNonPositive(float x) {
    constexpr float log2e = 1.44269504088896341f, ln2hi = 0.693359375f, ln2lo = -2.12194440e-4f;
    constexpr float roundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    const float xc = std::max(x, -87.0f);
    const float n = (xc * log2e + roundMagic) - roundMagic;
    const float r = (xc - n * ln2hi) - n * ln2lo;
    float poly = 1.0f / 720.0f;
    poly = poly * r + 1.0f / 120.0f;
    poly = poly * r + 1.0f / 24.0f;
    poly = poly * r + 1.0f / 6.0f;
    poly = poly * r + 0.5f;
    poly = poly * r + 1.0f;
    poly = poly * r + 1.0f;
    const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return poly * scale;
}

// Sum of a[i] * b[i] in eight lanes (so the compiler may vectorise it).
float dot8(const float* a, const float* b, std::int64_t n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) lane[l] += a[i + l] * b[i + l];
    float sum = 0;
    for (; i < n; ++i) sum += a[i] * b[i];
    for (float l : lane) sum += l;
    return sum;
}

// Sum and maximum in eight lanes, so the compiler may vectorise them (it keeps a float sum in
// order otherwise).
float sum8(const float* a, std::int64_t n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) lane[l] += a[i + l];
    float sum = 0;
    for (; i < n; ++i) sum += a[i];
    for (float l : lane) sum += l;
    return sum;
}

float max8(const float* a, std::int64_t n) {
    constexpr float low = -std::numeric_limits<float>::infinity();
    float lane[8] = {low, low, low, low, low, low, low, low};
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) lane[l] = a[i + l] > lane[l] ? a[i + l] : lane[l];
    float top = low;
    for (; i < n; ++i) top = a[i] > top ? a[i] : top;
    for (float l : lane) top = l > top ? l : top;
    return top;
}

// One query's scores in place -> its attention weights; keys outside [first, last) get 0.
void softmaxRow(float* row, std::int64_t P, std::int64_t first, std::int64_t last) {
    float* seen = row + first;
    const auto n = last - first;
    const float top = max8(seen, n);
    for (std::int64_t j = 0; j < n; ++j) seen[j] = expNonPositive(seen[j] - top);
    const float inv = 1.0f / sum8(seen, n);
    for (std::int64_t j = 0; j < n; ++j) seen[j] *= inv;
    std::fill(row, row + first, 0.0f);
    std::fill(row + last, row + P, 0.0f);
}

struct Shape {
    std::int64_t N, P, D, Dv;
    bool causal;
    std::int64_t window;
};

// Rows of `width` floats in chunks of about 32k values, over LibTorch's threads: f(first, end).
template <typename F>
void forRows(std::int64_t rows, std::int64_t width, const F& f) {
    at::parallel_for(0, rows, std::max<std::int64_t>(1, 32768 / std::max<std::int64_t>(1, width)), f);
}

// Attention runs each (sequence, head) n on its own, over LibTorch's threads: its P x P scores
// stay in cache from the first product to the last. At the example models' sizes BLAS runs each
// product on the calling thread.
std::int64_t floatsPerHead(const Shape& s) { return s.P * (s.P + s.D + s.Dv); }

class FusedAttentionFn : public torch::autograd::Function<FusedAttentionFn> {
public:
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qIn, const torch::Tensor& kIn,
                                 const torch::Tensor& vIn, double scale, bool causal, std::int64_t window) {
        const auto q = qIn.contiguous(), k = kIn.contiguous(), v = vIn.contiguous();
        const Shape s{q.size(0), q.size(1), q.size(2), v.size(2), causal, window};
        auto probs = torch::empty({s.N, s.P, s.P}, q.options());
        auto out = torch::empty({s.N, s.P, s.Dv}, q.options());
        const float *pq = q.data_ptr<float>(), *pk = k.data_ptr<float>(), *pv = v.data_ptr<float>();
        float *pp = probs.data_ptr<float>(), *po = out.data_ptr<float>();
        const int P = static_cast<int>(s.P), D = static_cast<int>(s.D), Dv = static_cast<int>(s.Dv);
        const auto a = static_cast<float>(scale);
        forRows(s.N, floatsPerHead(s), [&](std::int64_t n0, std::int64_t n1) {
            for (std::int64_t n = n0; n < n1; ++n) {
                float* w = pp + n * s.P * s.P;
                sgemmRowMajor(false, true, P, P, D, a, pq + n * s.P * s.D, D, pk + n * s.P * s.D, D, 0.0f, w, P);
                for (std::int64_t i = 0; i < s.P; ++i) {
                    const auto [first, last] = visibleKeys(i, s.P, causal, window);
                    softmaxRow(w + i * s.P, s.P, first, last);
                }
                sgemmRowMajor(false, false, P, Dv, P, 1.0f, w, P, pv + n * s.P * s.Dv, Dv, 0.0f, po + n * s.P * s.Dv, Dv);
            }
        });
        ctx->save_for_backward({q, k, v, probs});
        ctx->saved_data["scale"] = scale;
        ctx->saved_data["causal"] = causal;
        ctx->saved_data["window"] = window;
        return out;
    }

    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
        const auto saved = ctx->get_saved_variables();
        const auto &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
        const auto a = static_cast<float>(ctx->saved_data["scale"].toDouble());
        const Shape s{q.size(0), q.size(1), q.size(2), v.size(2), ctx->saved_data["causal"].toBool(), ctx->saved_data["window"].toInt()};
        const auto dOut = grads[0].contiguous();
        auto dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v);
        const float *pq = q.data_ptr<float>(), *pk = k.data_ptr<float>(), *pv = v.data_ptr<float>();
        const float *pp = probs.data_ptr<float>(), *pdo = dOut.data_ptr<float>();
        float *pdq = dq.data_ptr<float>(), *pdk = dk.data_ptr<float>(), *pdv = dv.data_ptr<float>();
        const int P = static_cast<int>(s.P), D = static_cast<int>(s.D), Dv = static_cast<int>(s.Dv);
        // dV = W^T dO; dW = dO V^T; dS = W (dW - rowsum(W dW)); dQ = scale dS K; dK = scale dS^T Q.
        forRows(s.N, floatsPerHead(s), [&](std::int64_t n0, std::int64_t n1) {
            std::vector<float> scratch(static_cast<size_t>(s.P * s.P));
            float* dS = scratch.data();
            for (std::int64_t n = n0; n < n1; ++n) {
                const float* w = pp + n * s.P * s.P;
                const float* go = pdo + n * s.P * s.Dv;
                sgemmRowMajor(true, false, P, Dv, P, 1.0f, w, P, go, Dv, 0.0f, pdv + n * s.P * s.Dv, Dv);
                sgemmRowMajor(false, true, P, P, Dv, 1.0f, go, Dv, pv + n * s.P * s.Dv, Dv, 0.0f, dS, P);
                for (std::int64_t i = 0; i < s.P; ++i) {
                    const float* wr = w + i * s.P;
                    float* dr = dS + i * s.P;
                    const float dot = dot8(wr, dr, s.P);
                    for (std::int64_t j = 0; j < s.P; ++j) dr[j] = wr[j] * (dr[j] - dot);
                }
                sgemmRowMajor(false, false, P, D, P, a, dS, P, pk + n * s.P * s.D, D, 0.0f, pdq + n * s.P * s.D, D);
                sgemmRowMajor(true, false, P, D, P, a, dS, P, pq + n * s.P * s.D, D, 0.0f, pdk + n * s.P * s.D, D);
            }
        });
        return {dq, dk, dv, {}, {}, {}};
    }
};

bool fitsInt(std::int64_t v) { return v >= 0 && v <= INT_MAX; }

// y = x W^T + b over the rows of x; backward dx = dy W, dW = dy^T x, db = column sums of dy.
class LinearFn : public torch::autograd::Function<LinearFn> {
public:
    // The bias is optional: an undefined tensor is not an autograd input.
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& xIn, const torch::Tensor& wIn,
                                 const c10::optional<torch::Tensor>& b) {
        const auto K = wIn.size(1), N = wIn.size(0);
        const auto x = xIn.reshape({-1, K}).contiguous();
        const auto w = wIn.contiguous();
        const auto M = x.size(0);
        auto y = torch::empty({M, N}, x.options());
        const auto bias = b && b->defined() ? b->contiguous() : torch::Tensor();
        parallelSgemm(false, true, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), 1.0f, x.data_ptr<float>(),
                      static_cast<int>(K), w.data_ptr<float>(), static_cast<int>(K), 0.0f, y.data_ptr<float>(), static_cast<int>(N),
                      bias.defined() ? bias.data_ptr<float>() : nullptr);
        ctx->save_for_backward({x, w});
        ctx->saved_data["shape"] = xIn.sizes().vec();
        ctx->saved_data["bias"] = bias.defined();
        auto shape = xIn.sizes().vec();
        shape.back() = N;
        return y.view(shape);
    }

    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
        const auto saved = ctx->get_saved_variables();
        const auto &x = saved[0], &w = saved[1];
        const auto M = x.size(0), K = x.size(1), N = w.size(0);
        const auto g = grads[0].reshape({M, N}).contiguous();
        torch::Tensor dx, dw, db;
        if (ctx->needs_input_grad(0)) {
            dx = torch::empty({M, K}, x.options());
            parallelSgemm(false, false, static_cast<int>(M), static_cast<int>(K), static_cast<int>(N), 1.0f, g.data_ptr<float>(),
                          static_cast<int>(N), w.data_ptr<float>(), static_cast<int>(K), 0.0f, dx.data_ptr<float>(), static_cast<int>(K));
            dx = dx.view(ctx->saved_data["shape"].toIntVector());
        }
        if (ctx->needs_input_grad(1)) {
            dw = torch::empty({N, K}, x.options());
            parallelSgemm(true, false, static_cast<int>(N), static_cast<int>(K), static_cast<int>(M), 1.0f, g.data_ptr<float>(),
                          static_cast<int>(N), x.data_ptr<float>(), static_cast<int>(K), 0.0f, dw.data_ptr<float>(), static_cast<int>(K));
        }
        if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) db = g.sum(0);
        return {dx, dw, db};
    }
};

}  // namespace

namespace {

// ---- the routed experts ------------------------------------------------------------------------

enum class Act { Relu, Gelu, Silu };

// erf(x) to about 1.5e-7 (Abramowitz and Stegun, Handbook of Mathematical Functions, 7.1.26),
// in a form the compiler vectorises.
inline float erfApprox(float x) {
    const float a = std::fabs(x);
    const float t = 1.0f / (1.0f + 0.3275911f * a);
    const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    return std::copysign(1.0f - poly * expNonPositive(-a * a), x);
}

// The logistic function, from e^-|x| so the exponent never overflows.
inline float sigmoid(float x) {
    const float e = expNonPositive(-std::fabs(x));
    const float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

constexpr float kInvSqrt2 = 0.70710678118654752f, kInvSqrt2Pi = 0.39894228040143268f;

template <Act K>
inline float activation(float x) {
    if constexpr (K == Act::Relu) return x > 0.0f ? x : 0.0f;
    else if constexpr (K == Act::Gelu) return 0.5f * x * (1.0f + erfApprox(x * kInvSqrt2));
    else return x * sigmoid(x);
}

template <Act K>
inline float derivative(float x) {
    if constexpr (K == Act::Relu) return x > 0.0f ? 1.0f : 0.0f;
    else if constexpr (K == Act::Gelu) return 0.5f * (1.0f + erfApprox(x * kInvSqrt2)) + x * kInvSqrt2Pi * expNonPositive(-0.5f * x * x);
    else {
        const float s = sigmoid(x);
        return s * (1.0f + x * (1.0f - s));
    }
}

// The elementwise passes over n values, one loop each so they vectorise.
template <Act K>
void activateInto(const float* a, const float* up, float* z, std::int64_t n) {
    if (up)
        for (std::int64_t i = 0; i < n; ++i) z[i] = activation<K>(a[i]) * up[i];
    else
        for (std::int64_t i = 0; i < n; ++i) z[i] = activation<K>(a[i]);
}

// Plain: dz *= act'(a). Gated (z = act(a) up): dUp = dz act(a), then dz := dz up act'(a).
template <Act K>
void backThrough(const float* a, const float* up, float* dz, float* dUp, std::int64_t n) {
    if (up) {
        for (std::int64_t i = 0; i < n; ++i) dUp[i] = dz[i] * activation<K>(a[i]);
        for (std::int64_t i = 0; i < n; ++i) dz[i] = dz[i] * up[i] * derivative<K>(a[i]);
    } else {
        for (std::int64_t i = 0; i < n; ++i) dz[i] *= derivative<K>(a[i]);
    }
}

template <typename F>
void dispatchAct(Act k, const F& f) {
    switch (k) {
        case Act::Relu: return f(std::integral_constant<Act, Act::Relu>{});
        case Act::Gelu: return f(std::integral_constant<Act, Act::Gelu>{});
        case Act::Silu: return f(std::integral_constant<Act, Act::Silu>{});
    }
}

// out[j] = sum over the n rows of a [n, w], the columns spread over LibTorch's threads.
void columnSums(const float* a, std::int64_t n, std::int64_t w, float* out) {
    const auto grain = w * n > 32768 ? std::int64_t{16} : std::max<std::int64_t>(w, 1);
    at::parallel_for(0, w, grain, [&](std::int64_t j0, std::int64_t j1) {
        std::fill(out + j0, out + j1, 0.0f);
        for (std::int64_t r = 0; r < n; ++r)
            for (std::int64_t j = j0; j < j1; ++j) out[j] += a[r * w + j];
    });
}

// Experts with fewer rows than this on average run whole on one thread each, several at once.
constexpr std::int64_t kRowsForBands = 128;

struct ExpertLayout {
    std::vector<std::int64_t> sizes, first;  // rows of each expert and its first row
    std::int64_t d = 0, H = 0;
    bool gated = false, bias = false;
    Act act = Act::Gelu;
    int matrices() const { return gated ? 3 : 2; }
    int perExpert() const { return matrices() * (bias ? 2 : 1); }
    // Index in the weights of expert e's matrix m (and its bias, one further, when biased).
    size_t at(size_t e, int m) const { return e * static_cast<size_t>(perExpert()) + static_cast<size_t>(m * (bias ? 2 : 1)); }
    // Runs f(e) for every expert with rows.
    template <typename F>
    void forExperts(const F& f) const {
        const auto E = static_cast<std::int64_t>(sizes.size());
        const auto rows = first.empty() ? 0 : first.back() + sizes.back();
        if (E > 1 && rows < kRowsForBands * E)
            at::parallel_for(0, E, 1, [&](std::int64_t e0, std::int64_t e1) {
                for (auto e = e0; e < e1; ++e) f(static_cast<size_t>(e));
            });
        else
            for (std::int64_t e = 0; e < E; ++e) f(static_cast<size_t>(e));
    }
};

ExpertLayout expertLayout(const std::vector<std::int64_t>& sizes, const torch::Tensor& x, const torch::Tensor& firstWeight, std::int64_t act,
                          bool gated, bool bias) {
    ExpertLayout l;
    l.sizes = sizes;
    std::int64_t row = 0;
    for (const auto n : sizes) {
        l.first.push_back(row);
        row += n;
    }
    l.d = x.size(1);
    l.H = firstWeight.size(0);
    l.gated = gated;
    l.bias = bias;
    l.act = static_cast<Act>(act);
    return l;
}

const float* dataOrNull(const std::vector<torch::Tensor>& w, size_t i, bool present) { return present ? w[i].data_ptr<float>() : nullptr; }

class ExpertsFn : public torch::autograd::Function<ExpertsFn> {
public:
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& xIn, at::TensorList weightsIn,
                                 std::vector<std::int64_t> sizes, std::int64_t act, bool gated, bool bias) {
        const auto x = xIn.contiguous();
        std::vector<torch::Tensor> w;
        for (const auto& t : weightsIn) w.push_back(t.contiguous());
        const auto l = expertLayout(sizes, x, w[0], act, gated, bias);
        const auto S = x.size(0), d = l.d, H = l.H;
        auto pre = torch::empty({S, H}, x.options()), z = torch::empty({S, H}, x.options()), y = torch::empty({S, d}, x.options());
        auto up = gated ? torch::empty({S, H}, x.options()) : torch::Tensor();
        const float* px = x.data_ptr<float>();
        float *pPre = pre.data_ptr<float>(), *pz = z.data_ptr<float>(), *py = y.data_ptr<float>();
        float* pUp = gated ? up.data_ptr<float>() : nullptr;
        const int di = static_cast<int>(d), Hi = static_cast<int>(H);
        l.forExperts([&](size_t e) {
            const auto n = l.sizes[e], r0 = l.first[e];
            if (n == 0) return;
            const int ni = static_cast<int>(n);
            const float* xe = px + r0 * d;
            float* a = pPre + r0 * H;
            float* u = gated ? pUp + r0 * H : nullptr;
            float* ze = pz + r0 * H;
            parallelSgemm(false, true, ni, Hi, di, 1.0f, xe, di, w[l.at(e, 0)].data_ptr<float>(), di, 0.0f, a, Hi, dataOrNull(w, l.at(e, 0) + 1, bias));
            if (gated)
                parallelSgemm(false, true, ni, Hi, di, 1.0f, xe, di, w[l.at(e, 1)].data_ptr<float>(), di, 0.0f, u, Hi, dataOrNull(w, l.at(e, 1) + 1, bias));
            dispatchAct(l.act, [&](auto k) {
                forRows(n, H, [&](std::int64_t i0, std::int64_t i1) { activateInto<decltype(k)::value>(a + i0 * H, u ? u + i0 * H : nullptr, ze + i0 * H, (i1 - i0) * H); });
            });
            const auto out = l.at(e, l.matrices() - 1);
            parallelSgemm(false, true, ni, di, Hi, 1.0f, ze, Hi, w[out].data_ptr<float>(), Hi, 0.0f, py + r0 * d, di, dataOrNull(w, out + 1, bias));
        });
        std::vector<torch::Tensor> saved{x, pre, z, gated ? up : pre};
        saved.insert(saved.end(), w.begin(), w.end());
        ctx->save_for_backward(saved);
        ctx->saved_data["sizes"] = sizes;
        ctx->saved_data["act"] = act;
        ctx->saved_data["gated"] = gated;
        ctx->saved_data["bias"] = bias;
        return y;
    }

    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
        const auto saved = ctx->get_saved_variables();
        const auto &x = saved[0], &pre = saved[1], &z = saved[2], &up = saved[3];
        const std::vector<torch::Tensor> w(saved.begin() + 4, saved.end());
        const bool gated = ctx->saved_data["gated"].toBool(), bias = ctx->saved_data["bias"].toBool();
        const auto l = expertLayout(ctx->saved_data["sizes"].toIntVector(), x, w[0], ctx->saved_data["act"].toInt(), gated, bias);
        const auto S = x.size(0), d = l.d, H = l.H;
        const auto g = grads[0].contiguous();
        auto dx = torch::empty({S, d}, x.options()), dz = torch::empty({S, H}, x.options());
        auto dUp = gated ? torch::empty({S, H}, x.options()) : torch::Tensor();
        std::vector<torch::Tensor> dw;
        for (const auto& t : w) dw.push_back(torch::empty_like(t));
        const float *px = x.data_ptr<float>(), *pPre = pre.data_ptr<float>(), *pz = z.data_ptr<float>(), *pg = g.data_ptr<float>();
        const float* pUp = gated ? up.data_ptr<float>() : nullptr;
        float *pdx = dx.data_ptr<float>(), *pdz = dz.data_ptr<float>(), *pdUp = gated ? dUp.data_ptr<float>() : nullptr;
        const int di = static_cast<int>(d), Hi = static_cast<int>(H);
        for (size_t e = 0; e < l.sizes.size(); ++e)
            if (l.sizes[e] == 0)
                for (int i = 0; i < l.perExpert(); ++i) dw[e * static_cast<size_t>(l.perExpert()) + static_cast<size_t>(i)].zero_();
        l.forExperts([&](size_t e) {
            const auto n = l.sizes[e], r0 = l.first[e];
            if (n == 0) return;
            const int ni = static_cast<int>(n);
            const float* ge = pg + r0 * d;
            const float* xe = px + r0 * d;
            float* dze = pdz + r0 * H;
            float* due = gated ? pdUp + r0 * H : nullptr;
            // The output matrix: dW = g^T z, db = column sums of g, dz = g W.
            const auto out = l.at(e, l.matrices() - 1);
            parallelSgemm(true, false, di, Hi, ni, 1.0f, ge, di, pz + r0 * H, Hi, 0.0f, dw[out].data_ptr<float>(), Hi);
            if (bias) columnSums(ge, n, d, dw[out + 1].data_ptr<float>());
            parallelSgemm(false, false, ni, Hi, di, 1.0f, ge, di, w[out].data_ptr<float>(), Hi, 0.0f, dze, Hi);
            // Through the activation: dz becomes the gradient of the first matrix's output.
            dispatchAct(l.act, [&](auto k) {
                forRows(n, H, [&](std::int64_t i0, std::int64_t i1) {
                    backThrough<decltype(k)::value>(pPre + (r0 + i0) * H, gated ? pUp + (r0 + i0) * H : nullptr, dze + i0 * H,
                                                    gated ? due + i0 * H : nullptr, (i1 - i0) * H);
                });
            });
            // The input matrices: dW = dA^T x, db = column sums of dA, dx = sum of dA W.
            for (int m = 0; m < l.matrices() - 1; ++m) {
                const float* dA = m == 0 ? dze : due;
                const auto idx = l.at(e, m);
                parallelSgemm(true, false, Hi, di, ni, 1.0f, dA, Hi, xe, di, 0.0f, dw[idx].data_ptr<float>(), di);
                if (bias) columnSums(dA, n, H, dw[idx + 1].data_ptr<float>());
                parallelSgemm(false, false, ni, di, Hi, 1.0f, dA, Hi, w[idx].data_ptr<float>(), di, m == 0 ? 0.0f : 1.0f, pdx + r0 * d, di);
            }
        });
        torch::autograd::tensor_list result{dx};
        result.insert(result.end(), dw.begin(), dw.end());
        result.insert(result.end(), {torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()});
        return result;
    }
};

}  // namespace

bool fusedCpuExpertsApplies(const torch::Tensor& tokens, moe::spec::Activation activation) {
    using moe::spec::Activation;
    if (!haveBlasSgemm() || tokens.dim() != 2 || !tokens.device().is_cpu() || tokens.scalar_type() != torch::kFloat) return false;
    return activation != Activation::Tanh && fitsInt(tokens.size(0)) && fitsInt(tokens.size(1));
}

torch::Tensor fusedCpuExperts(const torch::Tensor& tokens, const std::vector<std::int64_t>& sizes, moe::spec::Activation activation,
                              bool bias, const std::vector<torch::Tensor>& weights) {
    using moe::spec::Activation;
    TORCH_CHECK(fusedCpuExpertsApplies(tokens, activation), "fusedCpuExperts wants float32 CPU tokens [S, d] and a relu, gelu, silu, swiglu or geglu FFN");
    const bool gated = moe::spec::isGated(activation);
    const Act act = activation == Activation::Relu ? Act::Relu : (activation == Activation::Silu || activation == Activation::Swiglu) ? Act::Silu : Act::Gelu;
    const size_t per = static_cast<size_t>((gated ? 3 : 2) * (bias ? 2 : 1));
    std::int64_t rows = 0;
    for (const auto n : sizes) rows += n;
    TORCH_CHECK(!sizes.empty() && weights.size() == per * sizes.size() && rows == tokens.size(0),
                "fusedCpuExperts: ", sizes.size(), " experts need ", per * sizes.size(), " weights and ", rows, " rows");
    for (const auto& t : weights) TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat, "fusedCpuExperts wants float32 CPU weights");
    if (rows == 0) return torch::zeros({0, tokens.size(1)}, tokens.options());
    return ExpertsFn::apply(tokens, at::TensorList(weights), sizes, static_cast<std::int64_t>(act), gated, bias);
}

bool fusedCpuLinearApplies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    if (!haveBlasSgemm() || x.dim() < 1 || weight.dim() != 2 || x.numel() == 0 || weight.numel() == 0) return false;
    for (const auto* t : {&x, &weight})
        if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat) return false;
    if (bias.defined() && (!bias.device().is_cpu() || bias.scalar_type() != torch::kFloat || bias.dim() != 1 || bias.size(0) != weight.size(0)))
        return false;
    const auto K = weight.size(1);
    return x.size(-1) == K && fitsInt(x.numel() / K) && fitsInt(weight.size(0)) && fitsInt(K);
}

torch::Tensor fusedCpuLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    TORCH_CHECK(fusedCpuLinearApplies(x, weight, bias), "fusedCpuLinear wants non-empty float32 CPU x [..., K], weight [N, K], bias [N]");
    return LinearFn::apply(x, weight, bias.defined() ? c10::optional<torch::Tensor>(bias) : c10::nullopt);
}

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
                const float v = 1.0f / std::sqrt(dot8(xr, xr, n) / static_cast<float>(n) + e);
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
