#pragma once
// Expert-parallel dispatch and combine as the kernel libraries do them (DeepEP normal and
// low-latency, pplx-kernels, MORI-EP, NCCL all-to-all), for uniform routing: a fixed cost per call
// (more when the group spans nodes) plus the bytes of the busiest link over its point-to-point
// bandwidth. Kernel figures come from
// the catalog's ep_kernels.json; bandwidths from the cluster's links.

#include <string>

#include "moe/cluster/catalog.h"
#include "moe/spec/diagnostic.h"

namespace moe::cluster {

struct EpTraffic {
    int tokensPerRank = 128;
    int hidden = 7168;
    int k = 8;                        // experts per token
    int experts = 256;
    int ep = 8;                       // ranks of the expert-parallel group
    double dispatchBytesPerElement = 1.0 + 4.0 / 128;  // FP8 with one FP32 scale per 128 values
    double combineBytesPerElement = 2;                  // BF16
    int maxNodesPerToken = 0;         // node-limited routing (DeepSeek-V3: 4); 0 = none
};

struct EpEstimate {
    double dispatchUs = 0, combineUs = 0;
    // DeepEP's convention: the bytes of the bottleneck link over the kernel's time ("logical"
    // bandwidth, local-rank traffic included); `bottleneck` names that link as the catalog does
    // (the scale-up link inside a node, e.g. "nvlink4", or the NIC between nodes, "ib-ndr-cx7").
    double dispatchGBs = 0, combineGBs = 0;
    std::string bottleneck;
    // Compute beside the kernel: the SMs/CUs it holds of the GPU's, and how much slower work
    // overlapping it runs (total / (total - used); 1 when it holds none or the GPU's count is unknown).
    int computeUnitsUsed = 0, computeUnitsTotal = 0;
    double overlapSlowdown = 1;
};

// Expected number of distinct groups of size E/groups hit by k distinct experts of E (uniform).
double expectedDistinctGroups(int experts, int groups, int k);

// The fixed cost of one call (dispatch or combine) of `kernel` on the cluster: its own figure,
// plus its RDMA share and the NIC's extra cost (LinkSpec::epDispatchExtraUs) when the group spans
// nodes. Microseconds.
double kernelCallUs(const ResolvedCluster& c, const EpKernelSpec& kernel, bool dispatch, bool spansNodes);

// How much slower compute runs beside `kernel` on `gpu`: total / (total - used) compute units;
// 1 without a kernel, when it holds none, or when the GPU's count is unknown.
double overlapSlowdown(const GpuSpec& gpu, const EpKernelSpec* kernel);
// Empty when the kernel runs on the GPU's vendor and leaves it some compute units; otherwise what
// is wrong.
std::string checkKernelFits(const GpuSpec& gpu, const EpKernelSpec& kernel);
// Duration of `workUs` of compute that starts while communication has `windowUs` left to run:
// the work done during the window runs `slowdown` times slower, the rest at full speed.
double overlappedComputeUs(double workUs, double windowUs, double slowdown);

// The catalog's kernel `name` for a cluster of `gpu`s; errors (at `where`: deployment.ep_kernel,
// --ep-kernel) list the known kernels or say why it cannot run there (checkKernelFits).
spec::Result<const EpKernelSpec*> findEpKernel(const Catalog& catalog, const GpuSpec& gpu, const std::string& name, const std::string& where);

// Errors name the option (--ep, --kernel) and what would be valid.
spec::Result<EpEstimate> estimateEpKernel(const ResolvedCluster& c, const EpKernelSpec& kernel, const EpTraffic& t);

}  // namespace moe::cluster
