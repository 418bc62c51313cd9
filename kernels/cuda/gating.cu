// Router gating on the GPU: one thread per token. E and k are small (tens to hundreds), so a
// thread walks its row like the CPU reference does, with the same tie rule (strictly greater
// wins, so equal scores go to the lower expert) and the same order of operations.
#include "cuda_common.cuh"
#include "gating.cuh"

namespace moe::kernels::cuda {
namespace {

__device__ void gatingForwardToken(const GatingForwardArgs& a, int64_t t) {
    const int64_t E = a.p.experts, K = a.p.k;
    const float temp = a.p.temperature;
    const float* z = a.logits + t * E;
    float* s = a.probs + t * E;
    if (a.p.score == ScoreFn::Softmax) {
        float m = z[0] / temp;
        for (int64_t e = 1; e < E; ++e) m = fmaxf(m, z[e] / temp);
        float sum = 0.0f;
        for (int64_t e = 0; e < E; ++e) {
            const float v = expf(z[e] / temp - m);
            s[e] = v;
            sum += v;
        }
        for (int64_t e = 0; e < E; ++e) s[e] = s[e] / sum;
    } else {
        for (int64_t e = 0; e < E; ++e) s[e] = 1.0f / (1.0f + expf(-(z[e] / temp)));
    }
    int64_t* idx = a.expertIdx + t * K;
    float* g = a.gates + t * K;
    float denom = kRenormEps;
    for (int64_t j = 0; j < K; ++j) {
        int64_t best = -1;
        float bestV = 0.0f;
        for (int64_t e = 0; e < E; ++e) {
            // "taken" = chosen earlier; O(k) per test keeps the thread's state in registers.
            bool taken = false;
            for (int64_t q = 0; q < j; ++q) taken |= idx[q] == e;
            if (taken) continue;
            const float v = a.bias ? s[e] + a.bias[e] : s[e];
            if (best < 0 || v > bestV) {
                best = e;
                bestV = v;
            }
        }
        idx[j] = best;
        g[j] = s[best];
        denom += s[best];
    }
    if (a.p.renormalize)
        for (int64_t j = 0; j < K; ++j) g[j] = g[j] / denom;
}

__device__ void gatingBackwardToken(const GatingBackwardArgs& a, int64_t t) {
    const int64_t E = a.p.experts, K = a.p.k;
    const float* s = a.probs + t * E;
    const int64_t* idx = a.expertIdx + t * K;
    const float* g = a.gates + t * K;
    const float* dG = a.dGates + t * K;
    float denom = kRenormEps, gdot = 0.0f;
    if (a.p.renormalize) {
        for (int64_t j = 0; j < K; ++j) {
            const int64_t e = idx[j];
            if (e >= 0 && e < E) denom += s[e];
        }
        for (int64_t j = 0; j < K; ++j) gdot += dG[j] * g[j];
    }
    // dS[e] is recomputed on the fly (dProbs plus the one choice that picked e, if any).
    auto dS = [&](int64_t e) {
        float v = a.dProbs ? a.dProbs[t * E + e] : 0.0f;
        for (int64_t j = 0; j < K; ++j)
            if (idx[j] == e) v += a.p.renormalize ? (dG[j] - gdot) / denom : dG[j];
        return v;
    };
    float* dz = a.dLogits + t * E;
    if (a.p.score == ScoreFn::Softmax) {
        float dot = 0.0f;
        for (int64_t e = 0; e < E; ++e) dot += dS(e) * s[e];
        for (int64_t e = 0; e < E; ++e) dz[e] = s[e] * (dS(e) - dot) / a.p.temperature;
    } else {
        for (int64_t e = 0; e < E; ++e) dz[e] = dS(e) * s[e] * (1.0f - s[e]) / a.p.temperature;
    }
}

__global__ void gatingForwardKernel(GatingForwardArgs a) {
    for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < a.p.tokens;
         t += static_cast<int64_t>(gridDim.x) * blockDim.x)
        gatingForwardToken(a, t);
}

__global__ void gatingBackwardKernel(GatingBackwardArgs a) {
    for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < a.p.tokens;
         t += static_cast<int64_t>(gridDim.x) * blockDim.x)
        gatingBackwardToken(a, t);
}

}  // namespace

Status launchGatingForward(const GatingForwardArgs& a, cudaStream_t s) {
    if (a.p.tokens == 0) return Status::ok();
    gatingForwardKernel<<<blocksFor(a.p.tokens, 128), 128, 0, s>>>(a);
    MOE_CUDA_CHECK_LAUNCH("gating forward");
    return Status::ok();
}

Status launchGatingBackward(const GatingBackwardArgs& a, cudaStream_t s) {
    if (a.p.tokens == 0) return Status::ok();
    gatingBackwardKernel<<<blocksFor(a.p.tokens, 128), 128, 0, s>>>(a);
    MOE_CUDA_CHECK_LAUNCH("gating backward");
    return Status::ok();
}

}  // namespace moe::kernels::cuda
