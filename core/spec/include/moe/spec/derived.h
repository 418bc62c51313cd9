#pragma once
// Derived figures of a spec: parameters (total and active per token), forward FLOPs per token and
// weight memory. Conventions (also in the README):
//  - Linear(in, out) has in*out weights + out biases, and costs 2*in*out FLOPs (biases,
//    activations, norms and softmax are not counted as FLOPs).
//  - Routers are bias-free Linear(d, E) over all routed experts (hash routers have no weights).
//  - FFN expert: Linear(d,h) + Linear(h,d): 2dh + h + d params, 4dh FLOPs.
//  - constant expert (MoE++): learned vector (d) + Linear(d, 2) mixing weights: 3d + 2 params.
//  - zero and copy experts: no params, no FLOPs.
//  - Active = what one token touches: the router, the shared experts and, for its k choices,
//    the routed experts in expectation under uniform routing (choices land on an FFN expert with
//    probability E_ffn / E_routed). k is the router's expected experts per token: k for top-k
//    style routers, the capacity factor for expert choice, max for dynamic routing (an upper bound).
//  - LayerNorm 2d params, RMSNorm d.

#include <string_view>
#include <vector>

#include "moe/spec/model_spec.h"

namespace moe::spec {

struct BlockFigures {
    int experts = 0;            // routed FFN experts (0 for dense)
    int zeroExperts = 0;        // zero + copy + constant
    double k = 0;               // expected routed experts per token
    long long params = 0;
    double activeParams = 0;
    double flopsPerToken = 0;   // forward
};

struct ModelFigures {
    std::vector<BlockFigures> blocks;
    long long stemParams = 0, headParams = 0;
    long long params = 0;       // all
    double activeParams = 0;    // per token, all
    double flopsPerToken = 0;   // forward, per token, including stem and head (head per sample
                                // is spread over the sample's tokens)
};

ModelFigures computeFigures(const ModelSpec& m);

// Bytes per element for a dtype name: fp32 4, bf16/fp16 2, fp8 1; 0 for an unknown name.
double bytesPerElement(std::string_view dtype);
const std::vector<std::string_view>& dtypeNames();

// Expected routed experts per token for a block's router (see the conventions above).
double expectedK(const ModelSpec& m, int block);

}  // namespace moe::spec
