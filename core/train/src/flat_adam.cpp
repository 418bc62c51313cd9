#include "flat_adam.h"

#include <cmath>

#include <ATen/Parallel.h>
#include <type_traits>

namespace moe::train::detail {

namespace {
// The key LibTorch's optimizers file a parameter's state under.
std::string stateKey(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }
}  // namespace

template <class Base, class Options>
bool FlatAdamOf<Base, Options>::bound() const {
    if (!m_params.defined()) return false;
    const auto& params = this->param_groups()[0].params();
    if (params.size() != m_order.size()) return false;
    for (size_t i = 0; i < m_order.size(); ++i) {
        const auto& p = m_order[i];
        if (!p.is_same(params[i]) || p.data_ptr() != m_paramPtr[i] || !p.grad().defined() || p.grad().data_ptr() != m_gradPtr[i])
            return false;
    }
    return true;
}

template <class Base, class Options>
void FlatAdamOf<Base, Options>::flatten() {
    torch::NoGradGuard ng;
    m_order = this->param_groups()[0].params();
    std::int64_t total = 0;
    for (const auto& p : m_order) total += p.numel();
    const auto opts = m_order.empty() ? torch::TensorOptions() : m_order.front().options();
    m_params = torch::empty({total}, opts);
    m_grads = torch::zeros({total}, opts);
    m_expAvg = torch::zeros({total}, opts);
    m_expAvgSq = torch::zeros({total}, opts);
    m_paramPtr.clear();
    m_gradPtr.clear();
    m_states.clear();
    // The step count goes on from the states there are (a resumed checkpoint's).
    for (const auto& p : m_order) {
        const auto it = this->state_.find(stateKey(p));
        if (it != this->state_.end()) m_step = std::max(m_step, static_cast<torch::optim::AdamParamState&>(*it->second).step());
    }
    std::int64_t at = 0;
    for (auto& p : m_order) {
        const auto n = p.numel();
        auto view = [&](const torch::Tensor& flat) { return flat.narrow(0, at, n).view(p.sizes()); };
        auto value = view(m_params);
        value.copy_(p.detach());
        p.set_data(value);
        auto grad = view(m_grads);
        if (p.grad().defined()) grad.copy_(p.grad());
        p.mutable_grad() = grad;
        auto avg = view(m_expAvg), sq = view(m_expAvgSq);
        auto& slot = this->state_[stateKey(p)];
        if (slot) {
            auto& s = static_cast<torch::optim::AdamParamState&>(*slot);
            avg.copy_(s.exp_avg());
            sq.copy_(s.exp_avg_sq());
        } else {
            slot = std::make_unique<torch::optim::AdamParamState>();
        }
        auto& s = static_cast<torch::optim::AdamParamState&>(*slot);
        s.exp_avg(avg);
        s.exp_avg_sq(sq);
        s.step(m_step);
        m_states.push_back(&s);
        m_paramPtr.push_back(p.data_ptr());
        m_gradPtr.push_back(p.grad().data_ptr());
        at += n;
    }
}

template <class Base, class Options>
torch::Tensor FlatAdamOf<Base, Options>::step(torch::optim::Optimizer::LossClosure closure) {
    auto& groups = this->param_groups();
    const auto& o = static_cast<const Options&>(groups.front().options());
    // One group of one dtype and device, no AMSGrad: what the trainer builds. Anything else
    // takes LibTorch's own step.
    bool flat = groups.size() == 1 && !o.amsgrad();
    for (const auto& p : groups.front().params())
        flat = flat && p.options().dtype() == groups.front().params().front().options().dtype() &&
               p.device() == groups.front().params().front().device();
    if (!flat) return Base::step(closure);
    torch::Tensor loss = {};
    if (closure != nullptr) {
        at::AutoGradMode enableGrad(true);
        loss = closure();
    }
    torch::NoGradGuard ng;
    if (!bound()) flatten();
    ++m_step;
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    const double correction1 = 1 - std::pow(beta1, static_cast<double>(m_step));
    const double correction2 = 1 - std::pow(beta2, static_cast<double>(m_step));
    const bool decoupled = std::is_same_v<Base, torch::optim::AdamW>;
    if (m_params.device().is_cpu() && m_params.scalar_type() == torch::kFloat) {
        cpuStep(o.lr(), beta1, beta2, o.eps(), o.weight_decay(), decoupled, correction1, correction2);
    } else {
        auto grad = m_grads;
        if (o.weight_decay() != 0) {
            if (decoupled)
                m_params.mul_(1 - o.lr() * o.weight_decay());
            else
                grad = grad.add(m_params, o.weight_decay());
        }
        m_expAvg.mul_(beta1).add_(grad, 1 - beta1);
        m_expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
        const auto denom = (m_expAvgSq.sqrt() / std::sqrt(correction2)).add_(o.eps());
        m_params.addcdiv_(m_expAvg, denom, -o.lr() / correction1);
    }
    for (auto* s : m_states) s->step(m_step);
    return loss;
}

// The same update as the LibTorch operations above, in one pass over the four buffers (about nine
// passes, two of them into new tensors, as operations).
template <class Base, class Options>
void FlatAdamOf<Base, Options>::cpuStep(double lr, double beta1, double beta2, double eps, double decay, bool decoupled,
                                        double correction1, double correction2) {
    float* p = m_params.data_ptr<float>();
    const float* g = m_grads.data_ptr<float>();
    float* m = m_expAvg.data_ptr<float>();
    float* v = m_expAvgSq.data_ptr<float>();
    // Every constant rounded to float from double, as LibTorch's operations take their scalars.
    const auto b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2), e = static_cast<float>(eps);
    const auto a1 = static_cast<float>(1 - beta1), a2 = static_cast<float>(1 - beta2);
    const auto keep = static_cast<float>(decoupled ? 1 - lr * decay : 1.0), l2 = static_cast<float>(decoupled ? 0.0 : decay);
    const auto rootC2 = static_cast<float>(std::sqrt(correction2)), stepSize = static_cast<float>(-lr / correction1);
    at::parallel_for(0, m_params.numel(), 32768, [=](std::int64_t begin, std::int64_t end) {
        float* __restrict pr = p;
        const float* __restrict gr = g;
        float* __restrict mr = m;
        float* __restrict vr = v;
        for (std::int64_t i = begin; i < end; ++i) {
            const float gi = gr[i] + l2 * pr[i];
            const float pi = pr[i] * keep;
            const float mi = mr[i] * b1 + a1 * gi;
            const float vi = vr[i] * b2 + a2 * gi * gi;
            mr[i] = mi;
            vr[i] = vi;
            pr[i] = pi + stepSize * (mi / (std::sqrt(vi) / rootC2 + e));
        }
    });
}

template <class Base, class Options>
void FlatAdamOf<Base, Options>::load(torch::serialize::InputArchive& archive) {
    Base::load(archive);
    m_params = torch::Tensor();
    m_step = 0;
    m_states.clear();
}

template <class Base, class Options>
void FlatAdamOf<Base, Options>::zeroGrad() {
    if (bound()) {
        m_grads.zero_();
        return;
    }
    // LibTorch's zero_grad detaches each gradient in place, which a view refuses.
    torch::NoGradGuard ng;
    for (auto& group : this->param_groups())
        for (auto& p : group.params())
            if (p.grad().defined()) p.mutable_grad().zero_();
}

template class FlatAdamOf<torch::optim::Adam, torch::optim::AdamOptions>;
template class FlatAdamOf<torch::optim::AdamW, torch::optim::AdamWOptions>;

void zeroGradients(torch::optim::Optimizer& optimizer) {
    if (auto* a = dynamic_cast<FlatAdam*>(&optimizer)) return a->zeroGrad();
    if (auto* a = dynamic_cast<FlatAdamW*>(&optimizer)) return a->zeroGrad();
    optimizer.zero_grad();
}

}  // namespace moe::train::detail
