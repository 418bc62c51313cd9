// The layers blocks are made of: linear layers, activations, norms, plain and gated FFNs, MoE++ constant experts
// and rotary positions. Parameter layout follows the conventions of moe/spec/derived.h.

#include "cpu_fused.h"
#include "moe_net.h"

namespace moe::train::detail {

using moe::spec::Activation;
using moe::spec::NormKind;

torch::Tensor activate(const torch::Tensor& x, Activation a) {
    switch (a) {
        case Activation::Relu: return torch::relu(x);
        case Activation::Gelu: return torch::gelu(x);
        case Activation::Silu: return torch::silu(x);
        case Activation::Tanh: return torch::tanh(x);
        // Gated FFNs apply these to their gate projection (Shazeer 2020, arXiv:2002.05202).
        case Activation::Swiglu: return torch::silu(x);
        case Activation::Geglu: return torch::gelu(x);
    }
    return x;
}

torch::Tensor applyLinear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    if (fusedCpuLinearApplies(x, w, b)) return fusedCpuLinear(x, w, b);
    return torch::nn::functional::linear(x, w, b);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return applyLinear(x, weight, bias); }

Linear makeLinear(int in, int out, bool bias) { return Linear(torch::nn::LinearOptions(in, out).bias(bias)); }

FfnImpl::FfnImpl(int d, const moe::spec::FfnSpec& spec) : act(spec.activation) {
    if (moe::spec::isGated(spec.activation)) {
        gate = register_module("gate", makeLinear(d, spec.hidden, spec.bias));
        up = register_module("up", makeLinear(d, spec.hidden, spec.bias));
        down = register_module("down", makeLinear(spec.hidden, d, spec.bias));
        return;
    }
    fc1 = register_module("fc1", makeLinear(d, spec.hidden, spec.bias));
    fc2 = register_module("fc2", makeLinear(spec.hidden, d, spec.bias));
}

std::vector<Linear*> FfnImpl::layers() { return gate ? std::vector<Linear*>{&gate, &up, &down} : std::vector<Linear*>{&fc1, &fc2}; }

torch::Tensor FfnImpl::forward(const torch::Tensor& x) {
    if (gate) return down->forward(activate(gate->forward(x), act) * up->forward(x));
    return fc2->forward(activate(fc1->forward(x), act));
}

ConstantExpertImpl::ConstantExpertImpl(int d) {
    vec = register_parameter("vec", torch::randn({d}) * 0.02);
    mix = register_module("mix", makeLinear(d, 2, true));
}

torch::Tensor ConstantExpertImpl::forward(const torch::Tensor& x) {
    auto a = torch::softmax(mix->forward(x), -1);  // [n,2]
    return a.narrow(1, 0, 1) * x + a.narrow(1, 1, 1) * vec.unsqueeze(0);
}

RmsNormImpl::RmsNormImpl(int d) { weight = register_parameter("weight", torch::ones({d})); }

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
    if (fusedCpuApplies(x) && fusedCpuApplies(weight)) return fusedCpuRmsNorm(x, weight, 1e-6);
    return x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-6) * weight;
}

NormImpl::NormImpl(NormKind kind, int d) {
    if (kind == NormKind::LayerNorm) m_ln = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    if (kind == NormKind::RmsNorm) m_rms = register_module("rms", RmsNorm(d));
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
    if (m_ln) return m_ln->forward(x);
    if (m_rms) return m_rms->forward(x);
    return x;
}

torch::Tensor ropeAngles(std::int64_t P, std::int64_t dim, double theta, const torch::TensorOptions& options) {
    const auto half = dim / 2;
    auto opts = options.dtype(torch::kFloat);
    // Frequencies theta^(-2i/dim): in float32 whatever the activations' dtype, so long contexts
    // keep their angles.
    auto inv = torch::pow(theta, -torch::arange(half, opts) * (2.0 / static_cast<double>(dim)));
    return torch::outer(torch::arange(P, opts), inv);
}

torch::Tensor applyRope(const torch::Tensor& x, double theta) {
    const auto P = x.size(-2), dim = x.size(-1);
    TORCH_CHECK(dim % 2 == 0, "rotary positions need an even head dimension, got ", dim);
    if (fusedCpuApplies(x)) return fusedCpuRope(x, theta);
    const auto half = dim / 2;
    auto ang = ropeAngles(P, dim, theta, x.options());  // [P, half]
    auto cos = torch::cat({ang.cos(), ang.cos()}, -1).to(x.scalar_type());
    auto sin = torch::cat({ang.sin(), ang.sin()}, -1).to(x.scalar_type());
    auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    return x * cos + rotated * sin;
}

}  // namespace moe::train::detail
