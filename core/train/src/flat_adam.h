#pragma once
// Adam and AdamW whose step is one pass over flat buffers on the CPU (a handful of operations on
// other devices) instead of about ten operations per parameter tensor. A network with hundreds of small tensors (every expert has four) spent
// more time in LibTorch's per-tensor Adam, and in zeroing each gradient, than in its forward
// pass at small batches.
//
// At the first step the parameters, their gradients and the two moment estimates move into
// flat buffers, and every tensor becomes a view into them: the modules, autograd (which adds
// into an existing gradient in place) and the data-parallel reducer go on seeing the same
// tensors. Checkpoints keep LibTorch's per-parameter format (each state's moments are views
// too), so a checkpoint written before reads here and one written here reads in LibTorch's
// Adam. Whatever re-points a tensor (a checkpoint load, an expert-parallel rank dropping the
// experts it does not hold) is noticed at the next step, which flattens again.
//
// Every parameter takes part in every step, with a zero gradient where it had none; LibTorch's
// Adam skips a parameter until its first gradient. Only a parameter that no step ever reaches
// moves differently: here Adam's zero update, and AdamW's decay.

#include <torch/torch.h>

#include <vector>

namespace moe::train::detail {

template <class Base, class Options>
class FlatAdamOf : public Base {
public:
    FlatAdamOf(std::vector<torch::Tensor> params, Options options) : Base(std::move(params), std::move(options)) {}

    torch::Tensor step(torch::optim::Optimizer::LossClosure closure = nullptr) override;
    // LibTorch's load, then the next step flattens what it read.
    void load(torch::serialize::InputArchive& archive) override;

    // Zeroes every gradient: one fill of the flat buffer once it exists. (LibTorch's zero_grad,
    // which is not virtual, detaches each gradient in place: views refuse that, so call this.)
    void zeroGrad();

private:
    bool bound() const;
    void flatten();
    void cpuStep(double lr, double beta1, double beta2, double eps, double decay, bool decoupled, double correction1, double correction2);

    torch::Tensor m_params, m_grads, m_expAvg, m_expAvgSq;
    std::vector<torch::Tensor> m_order;  // the parameters, in buffer order
    std::vector<const void*> m_paramPtr, m_gradPtr;
    std::vector<torch::optim::AdamParamState*> m_states;  // owned by the optimizer's state map
    std::int64_t m_step = 0;
};

using FlatAdam = FlatAdamOf<torch::optim::Adam, torch::optim::AdamOptions>;
using FlatAdamW = FlatAdamOf<torch::optim::AdamW, torch::optim::AdamWOptions>;

// optimizer->zero_grad(), in one operation for the flat optimizers.
void zeroGradients(torch::optim::Optimizer& optimizer);

}  // namespace moe::train::detail
