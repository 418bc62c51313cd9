#include "batched_matmul.h"

#include <algorithm>
#include <climits>

#include <ATen/Parallel.h>

namespace moe::train::detail {

namespace {

// A matrix operand as BLAS takes it: row-major rows (inner stride 1) or a transposed view of
// them (outer stride 1), with its leading dimension.
struct Operand {
    torch::Tensor t;
    bool transposed = false;
    std::int64_t ld = 0;
};

Operand operand(const torch::Tensor& x) {
    const auto rows = x.size(1), cols = x.size(2);
    if (x.stride(2) == 1 && x.stride(1) >= std::max<std::int64_t>(1, cols)) return {x, false, x.stride(1)};
    if (x.stride(1) == 1 && x.stride(2) >= std::max<std::int64_t>(1, rows)) return {x, true, x.stride(2)};
    auto c = x.contiguous();
    return {c, false, std::max<std::int64_t>(1, cols)};
}

bool fitsInt(std::int64_t v) { return v >= 0 && v <= INT_MAX; }

// out[i] = a[i] x b[i].
torch::Tensor multiplyWithBlas(const torch::Tensor& a, const torch::Tensor& b) {
    const auto N = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
    auto out = torch::empty({N, m, n}, a.options());
    if (N == 0 || m == 0 || n == 0) return out;
    if (k == 0) return out.zero_();
    const auto A = operand(a), B = operand(b);
    const float* pa = A.t.data_ptr<float>();
    const float* pb = B.t.data_ptr<float>();
    float* pc = out.data_ptr<float>();
    const auto sa = A.t.stride(0), sb = B.t.stride(0), sc = m * n;
    // The products spread over LibTorch's threads, each one call of BLAS on the thread that runs
    // it (training keeps BLAS on one thread: cpu_blas.h).
    at::parallel_for(0, N, std::max<std::int64_t>(1, 32768 / std::max<std::int64_t>(1, m * n + m * k)), [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i)
            sgemmRowMajor(A.transposed, B.transposed, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, pa + i * sa,
                          static_cast<int>(A.ld), pb + i * sb, static_cast<int>(B.ld), 0.0f, pc + i * sc, static_cast<int>(n));
    });
    return out;
}

class BatchedMatmulFn : public torch::autograd::Function<BatchedMatmulFn> {
public:
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a, const torch::Tensor& b) {
        ctx->save_for_backward({a, b});
        return multiplyWithBlas(a, b);
    }
    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
        const auto saved = ctx->get_saved_variables();
        const auto& a = saved[0];
        const auto& b = saved[1];
        const auto& g = grads[0];
        torch::Tensor ga, gb;
        // dA = dC B^T, dB = A^T dC; the transposes are views BLAS reads as they lie.
        if (ctx->needs_input_grad(0)) ga = batchedMatmul(g, b.transpose(1, 2));
        if (ctx->needs_input_grad(1)) gb = batchedMatmul(a.transpose(1, 2), g);
        return {ga, gb};
    }
};

}  // namespace

bool batchedMatmulUsesBlas(const torch::Tensor& a, const torch::Tensor& b) {
    if (!haveBlasSgemm() || a.dim() != 3 || b.dim() != 3 || !a.device().is_cpu() || !b.device().is_cpu()) return false;
    if (a.scalar_type() != torch::kFloat || b.scalar_type() != torch::kFloat) return false;
    // Every size and leading dimension BLAS sees must fit its int.
    for (const auto& t : {a, b})
        for (int d = 0; d < 3; ++d)
            if (!fitsInt(t.size(d)) || !fitsInt(t.stride(d))) return false;
    return a.size(0) == b.size(0) && a.size(2) == b.size(1);
}

torch::Tensor batchedMatmul(const torch::Tensor& a, const torch::Tensor& b) {
    if (!batchedMatmulUsesBlas(a, b)) return torch::bmm(a, b);
    return BatchedMatmulFn::apply(a, b);
}

}  // namespace moe::train::detail
