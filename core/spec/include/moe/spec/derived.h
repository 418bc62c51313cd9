#pragma once
// Derived figures of a spec: parameters (total and active per token), forward FLOPs per token,
// KV-cache size and weight memory, per layer of the flattened model (groups expanded) and in total.
// Conventions (also in the README):
//  - Linear(in, out) has in*out weights (+ out biases where it has them) and costs 2*in*out FLOPs
//    (biases, activations, norms, softmax and rotary rotations are not counted as FLOPs).
//  - LayerNorm 2d params, RMSNorm d. Every dense, moe and attention layer has its pre-norm.
//  - FFN (dense block, routed and shared expert): plain Linear(d,h) + Linear(h,d): 2dh params
//    (+ h + d biases), 4dh FLOPs; gated (swiglu, geglu) gate, up and down: 3dh params
//    (+ 2h + d biases), 6dh FLOPs. Biases follow the FFN's "bias".
//  - Routers are bias-free Linear(d, E) over all routed experts (hash routers have no weights).
//  - constant expert (MoE++): learned vector (d) + Linear(d, 2) mixing weights: 3d + 2 params.
//  - zero and copy experts: no params, no FLOPs.
//  - Active = what one token touches: the router, the shared experts and, for its k choices,
//    the routed experts in expectation under uniform routing (choices land on an FFN expert with
//    probability E_ffn / E_routed). k is the router's expected experts per token: k for top-k
//    style routers, the capacity factor for expert choice, max for dynamic routing (an upper bound).
//    Stem, head and attention are active in full.
//  - Attention (MHA/GQA/MQA), h heads, g key/value heads, head dim hd (d/h unless given):
//    q, k, v, o projections d*h*hd + 2*d*g*hd + h*hd*d params (biases h*hd + 2*g*hd + d when
//    "bias"), QK-norm 2*hd (RMSNorm weights shared over heads). FLOPs per token: the projections,
//    plus QK^T and AV: 4*h*hd*c, where c is the average context of a token at the project's
//    sequence length S: (S+1)/2 causal, S bidirectional, capped by the sliding window W (causal: a
//    token sees itself and the W-1 before it; bidirectional: the tokens within distance W-1).
//  - MLA (DeepSeek-V2/V3), nope, rope, v head dims, ranks q_lora and kv_lora: queries d*h*(nope+rope)
//    directly, or d*q_lora + RMSNorm(q_lora) + q_lora*h*(nope+rope); kv_a d*(kv_lora+rope), RMSNorm
//    (kv_lora), kv_b kv_lora*h*(nope+v), o h*v*d (biases: each one's outputs when "bias").
//    FLOPs: the projections (latents expanded, not absorbed) plus 2*h*(nope+rope)*c + 2*h*v*c.
//  - KV cache per token per layer, in elements: 2*g*hd (MHA/GQA/MQA); kv_lora + rope (MLA: the
//    latent and the decoupled rotary key). Bytes = elements x bytes per element of the dtype.
//  - Stem: Linear(token_dim, d) with bias, or an embedding table vocab*d (a lookup: 0 FLOPs);
//    learned positions add max_positions*d (max_positions defaults to the tokens per sample).
//  - Head, classification: norm + Linear(d, classes) with bias; its FLOPs are spread over the
//    tokens of a sample. Head, language model: norm + bias-free Linear(d, vocab), none when tied
//    (the table is counted once, in the stem); 2*d*vocab FLOPs per token either way.
//  - "Without embedding": minus the stem (token table or input projection, and learned positions).

#include <string_view>
#include <vector>

#include "moe/spec/model_spec.h"

namespace moe::spec {

struct BlockFigures {
    BlockKind kind = BlockKind::Dense;  // Group for a sum over a group's layers (ModelFigures::authored)
    int layers = 1;             // flattened layers summed here
    int experts = 0;            // routed FFN experts (0 for dense and attention)
    int zeroExperts = 0;        // zero + copy + constant
    double k = 0;               // expected routed experts per token
    long long params = 0;
    double activeParams = 0;
    double flopsPerToken = 0;   // forward, at the project's sequence length
    double attentionFlopsPerToken = 0;  // the QK^T and AV part of flopsPerToken
    long long kvCachePerToken = 0;      // elements cached per token (attention only)
    long long expertParams = 0;         // the routed FFN experts' part of params (moe only)
    double expertFlopsPerToken = 0;     // the routed FFN experts' part of flopsPerToken (moe only)
};

struct ModelFigures {
    std::vector<BlockFigures> blocks;    // one per layer of the flattened model
    std::vector<LayerOrigin> origins;    // where each of them comes from (ModelSpec::layerOrigins)
    int seqLen = 1;                      // tokens per sample, the context of the attention FLOPs
    long long stemParams = 0, headParams = 0;
    double stemFlopsPerToken = 0, headFlopsPerToken = 0;
    long long params = 0;                // all
    double activeParams = 0;             // per token, all
    long long paramsWithoutEmbedding = 0;        // params - stemParams
    double activeParamsWithoutEmbedding = 0;     // activeParams - stemParams
    double flopsPerToken = 0;            // forward, per token, including stem and head
    long long kvCachePerToken = 0;       // elements per token, all layers

    // Figures of authored block `block` (ModelSpec::blocks index): a group's layers summed
    // (kind Group, layers = their count), a plain block's own layer.
    BlockFigures authored(int block) const;
    double kvCacheBytesPerToken(std::string_view dtype) const;
};

ModelFigures computeFigures(const ModelSpec& m);

// Average number of tokens one token attends to, over the positions of a sequence of seqLen.
double averageContext(int seqLen, bool causal, int window);

// Bytes per element for a dtype name: fp32 4, bf16/fp16 2, fp8 1; 0 for an unknown name.
double bytesPerElement(std::string_view dtype);
const std::vector<std::string_view>& dtypeNames();

// Human-friendly counts: 1234567 -> "1.23M", 0.5 -> "0.5".
std::string humanCount(double v);
// Memory in binary units: 1536 -> "1.50 KiB", 8e9 -> "7.45 GiB", 12 -> "12 B".
std::string humanBytes(double bytes);

// Expected routed experts per token for layer `block` of the flattened model (see above).
double expectedK(const ModelSpec& m, int block);

}  // namespace moe::spec
