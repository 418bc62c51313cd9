#pragma once
// Memory per GPU of a layout: weights, gradients, optimizer states, activations (with the
// pipeline schedule's in-flight micro-batches) and, for inference, the KV cache; the GPU with the
// most memory (pipeline rank) decides whether it fits.
//
// Training, following Megatron-LM's theoretical memory (megatron/training/theoretical_memory_usage.py)
// where it applies, MoE-aware beyond it:
//  - Parameters of a pipeline rank: its transformer layers, the embedding on the first rank, the
//    final norm and output layer on the last; non-expert parameters split over tp (Megatron divides
//    norms and embeddings by tp too), routed-expert parameters over ep x etp.
//  - Bytes per parameter: weight (dtype) + gradient (grad_dtype, fp32 by default: Megatron's main
//    grads) + Adam's fp32 master weight, first and second moment (12; 8 when the weights are fp32).
//    ZeRO-1 / distributed optimizer shards the optimizer states, ZeRO-2 also the gradients, ZeRO-3
//    also the weights: dense parameters over dp x cp ranks, expert parameters over the
//    expert-data-parallel ranks (edp). Plain DP with bf16 weights: 18 bytes; distributed optimizer:
//    6 + 12 / dp, as Megatron.
//  - Activations per micro-batch (bytes, s = seq_len / cp, b = micro_batch, h = d_model), after
//    Korthikanti et al. (arXiv:2205.05198, Table 2) with flash attention (no s^2 score terms),
//    generalised: an attention layer keeps its norm input, the norm output (QKV input) and the
//    output-dropout mask (5sbh, split over tp only with sequence parallelism), queries, keys, values
//    and the attention output (2sb x their widths, split over tp); MLA also its latents. A dense FFN
//    keeps 5sbh + 4sbf (plain) or 6sbf (gated). An MoE layer keeps 5sbh, the router's fp32 logits
//    and probabilities, and for the k expert copies of each token their permuted input and output
//    (2 x 2sbh k) and their FFN activations (4 or 6 sbf k, over etp with tokens gathered over etp),
//    plus its shared experts like a dense FFN. With a dense GPT (gelu FFN), sequence parallelism
//    and no recomputation this is Megatron's s b h (18 + 4 f / h) per layer (Megatron labels it
//    "selective": with flash attention, recomputing the core attention saves nothing more).
//    Recomputation: "selective" recomputes norms and activation functions (Megatron-Core's
//    --recompute-modules layernorm moe_act / mlp): drops each norm output (2sbh) and each
//    activation output (2sbf, k copies in MoE layers); "full" keeps only each layer's input (2sbh)
//    and one layer's activations at a time.
//  - In flight on pipeline rank r: 1F1B min(pp - r, micro-batches); interleaved with vpp virtual
//    stages pp - r + (pp - 1) / vpp (Megatron's penalty 1 + (pp - 1) / (pp vpp) on rank 0).
//  - ZeRO-3 gathers a layer's weights before use: two layers' full weights (prefetch) in flight.
// Inference: weights (dtype) and the KV cache of micro_batch sequences of seq_len tokens: keys and
// values split over tp while tp divides the key/value heads (MLA's latent is not split), over cp.

#include <string>
#include <vector>

#include "moe/cluster/catalog.h"
#include "moe/cluster/layout.h"

namespace moe::cluster {

struct MemoryBreakdown {
    int stage = 0;                  // the pipeline rank with the most memory (the one reported)
    double weights = 0, gradients = 0, optimizer = 0, activations = 0, kvCache = 0, gathered = 0;  // bytes
    double total = 0;
    double capacity = 0;            // the GPU's HBM, bytes
    bool fits = false;
    double denseParams = 0;         // per GPU, before ZeRO sharding
    double expertParams = 0;
    double inFlight = 1;            // micro-batches whose activations the rank holds
    double activationsPerMicroBatch = 0;
    std::vector<double> stageTotals;  // every pipeline rank's total
    std::vector<std::string> notes;   // assumptions worth saying
};

MemoryBreakdown estimateMemory(const ModelShape& s, const Layout& l, const GpuSpec& gpu, bool inference = false);

// Bytes per micro-batch that selective recomputation drops in unit `unit` (and recomputes).
double selectiveRecomputeBytes(const ModelShape& s, const Layout& l, int unit);

}  // namespace moe::cluster
