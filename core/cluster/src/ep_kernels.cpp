#include "moe/cluster/ep_kernels.h"

#include <algorithm>
#include <cmath>

#include "moe/cluster/collective.h"

namespace moe::cluster {

double expectedDistinctGroups(int experts, int groups, int k) {
    if (groups <= 1) return 1.0;
    // P(a group is missed) = C(E - E/G, k) / C(E, k), as a running product.
    const double per = double(experts) / groups;
    double miss = 1.0;
    for (int i = 0; i < k; ++i) miss *= std::max(0.0, (experts - per - i) / (experts - i));
    return groups * (1.0 - miss);
}

double kernelCallUs(const ResolvedCluster& c, const EpKernelSpec& kernel, bool dispatch, bool spansNodes) {
    double us = dispatch ? kernel.dispatchLatencyUs : kernel.combineLatencyUs;
    if (!spansNodes) return us;
    us += dispatch ? kernel.dispatchRdmaLatencyUs : kernel.combineRdmaLatencyUs;
    // NCCL's all-to-all pays its network costs through the collective model's protocol latencies.
    if (kernel.mode != EpKernelMode::Nccl) us += dispatch ? c.nic->epDispatchExtraUs : c.nic->epCombineExtraUs;
    return us;
}

double overlapSlowdown(const GpuSpec& gpu, const EpKernelSpec* kernel) {
    if (!kernel || kernel->computeUnits <= 0 || gpu.computeUnits <= kernel->computeUnits) return 1.0;
    return double(gpu.computeUnits) / double(gpu.computeUnits - kernel->computeUnits);
}

std::string checkKernelFits(const GpuSpec& gpu, const EpKernelSpec& kernel) {
    if (!kernel.runsOn(gpu.vendor)) {
        std::string vendors;
        for (const auto& v : kernel.vendors) vendors += (vendors.empty() ? "" : " or ") + v;
        return kernel.name + " runs on " + vendors + " GPUs, and a " + gpu.name + " is " + gpu.vendor + "; choose a kernel that runs there";
    }
    if (kernel.computeUnits <= 0 || gpu.computeUnits <= 0 || kernel.computeUnits < gpu.computeUnits) return {};
    return kernel.name + " holds " + std::to_string(kernel.computeUnits) + " compute units, but a " + gpu.name + " has only " +
           std::to_string(gpu.computeUnits) + "; lower the kernel's compute_units in a catalog overlay";
}

spec::Result<const EpKernelSpec*> findEpKernel(const Catalog& catalog, const GpuSpec& gpu, const std::string& name, const std::string& where) {
    const EpKernelSpec* k = catalog.epKernel(name);
    if (!k) {
        std::string names;
        for (const auto& x : catalog.epKernels()) names += (names.empty() ? "" : ", ") + x.name;
        return spec::Diagnostics{
            {where, "\"" + name + "\" is not an expert-parallel kernel of the catalog; known: " + (names.empty() ? std::string("none") : names)}};
    }
    if (std::string e = checkKernelFits(gpu, *k); !e.empty()) return spec::Diagnostics{{where, e}};
    return k;
}

double overlappedComputeUs(double workUs, double windowUs, double slowdown) {
    if (slowdown <= 1.0 || windowUs <= 0 || workUs <= 0) return workUs;
    const double doneInWindow = windowUs / slowdown;  // work finished while the kernel runs
    if (workUs <= doneInWindow) return workUs * slowdown;
    return windowUs + (workUs - doneInWindow);
}

spec::Result<EpEstimate> estimateEpKernel(const ResolvedCluster& c, const EpKernelSpec& kernel, const EpTraffic& t) {
    if (t.ep < 2) return spec::Diagnostics{{"--ep", "expert parallelism needs at least 2 ranks"}};
    if (std::string e = c.checkGpuCount(t.ep); !e.empty()) return spec::Diagnostics{{"--ep", e}};
    if (t.experts < t.ep || t.experts % t.ep != 0)
        return spec::Diagnostics{{"--experts", std::to_string(t.experts) + " experts do not spread evenly over " + std::to_string(t.ep) + " ranks"}};
    if (t.k < 1 || t.k > t.experts) return spec::Diagnostics{{"--k", "k must be between 1 and the expert count"}};
    if (t.tokensPerRank < 1 || t.hidden < 1) return spec::Diagnostics{{"--tokens", "tokens and hidden size must be positive"}};
    if (std::string e = checkKernelFits(*c.gpu, kernel); !e.empty()) return spec::Diagnostics{{"--kernel", e}};

    const int g = std::min(t.ep, c.system->gpusPerNode);
    const int nodes = (t.ep + g - 1) / g;
    const double kGB = 1e9;
    // Point-to-point rates of one GPU: its scale-up links (a mesh spreads peers over its links)
    // and its NIC.
    const double links = c.system->fabric == FabricKind::Mesh ? g - 1 : 1;
    const double su = links * c.scaleUp->bwGBs * c.scaleUp->p2pEfficiency * kGB;
    const double net = c.nic->bwGBs * c.nic->p2pEfficiency * kGB;
    // The links by their catalog names (nvlink4, xgmi3, ib-ndr-cx7, gloo-loopback...).
    const std::string& suName = c.scaleUp->name;
    const std::string& netName = c.nic->name;
    const double perToken = double(t.hidden);

    EpEstimate r;
    auto pass = [&](double bpe, double latencyUs, double& us, double& gbs) {
        const double copy = perToken * bpe;
        switch (kernel.mode) {
        case EpKernelMode::Direct: {
            const double bytes = double(t.tokensPerRank) * t.k * copy;
            const double local = double(g) / t.ep;
            const double tsu = g > 1 ? bytes * local / su : 0.0;
            const double tnet = nodes > 1 ? bytes * (1 - local) / net : 0.0;
            us = latencyUs + std::max(tsu, tnet) * 1e6;
            gbs = bytes / (us * 1e-6) / kGB;  // logical: every copy, local ones included
            r.bottleneck = tnet > tsu ? netName : suName;
            break;
        }
        case EpKernelMode::NodeForward: {
            // Once per destination node over the NIC, then NVLink to each rank hit there.
            double dn = expectedDistinctGroups(t.experts, nodes, t.k);
            if (t.maxNodesPerToken > 0) dn = std::min(dn, double(t.maxNodesPerToken));
            const double dr = expectedDistinctGroups(t.experts, t.ep, t.k);
            const double rdma = double(t.tokensPerRank) * dn * copy;             // logical, own node included
            const double rdmaRemote = rdma * (nodes - 1) / nodes;
            const double nvl = double(t.tokensPerRank) * dr * copy;
            const double tnet = nodes > 1 ? rdmaRemote / net : 0.0;
            const double tsu = g > 1 ? nvl / su : 0.0;
            us = latencyUs + std::max(tnet, tsu) * 1e6;
            if (nodes > 1) {
                gbs = rdma / (us * 1e-6) / kGB;
                r.bottleneck = netName;
            } else {
                gbs = nvl / (us * 1e-6) / kGB;
                r.bottleneck = suName;
            }
            break;
        }
        case EpKernelMode::Nccl: {
            const double bytes = double(t.tokensPerRank) * t.k * copy;
            auto e = estimateCollective(c, nullptr, CollectiveOp::AllToAll, bytes, t.ep);
            us = latencyUs + (e ? e->timeUs : 0.0);
            gbs = bytes / (us * 1e-6) / kGB;
            r.bottleneck = nodes > 1 ? netName : suName;
            break;
        }
        }
    };
    const bool rdma = nodes > 1;
    pass(t.dispatchBytesPerElement, kernelCallUs(c, kernel, true, rdma), r.dispatchUs, r.dispatchGBs);
    pass(t.combineBytesPerElement, kernelCallUs(c, kernel, false, rdma), r.combineUs, r.combineGBs);
    r.computeUnitsUsed = kernel.computeUnits;
    r.computeUnitsTotal = c.gpu->computeUnits;
    r.overlapSlowdown = overlapSlowdown(*c.gpu, &kernel);
    return r;
}

}  // namespace moe::cluster
