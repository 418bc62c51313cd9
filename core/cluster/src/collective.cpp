#include "moe/cluster/collective.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "moe/cluster/flow.h"
#include "moe/spec/derived.h"
#include "moe/cluster/topology.h"

namespace moe::cluster {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kGB = 1e9;
// NCCL's model runs trees at 92% of the ring bus bandwidth (src/graph/tuning.cc, busBw * .92).
constexpr double kTreeEfficiency = 0.92;

struct OpName {
    CollectiveOp op;
    const char* name;
};
const OpName kOps[] = {{CollectiveOp::AllReduce, "all_reduce"},       {CollectiveOp::ReduceScatter, "reduce_scatter"},
                       {CollectiveOp::AllGather, "all_gather"},       {CollectiveOp::Broadcast, "broadcast"},
                       {CollectiveOp::AllToAll, "alltoall"},          {CollectiveOp::AllToAllV, "alltoallv"}};
struct AlgoName {
    Algorithm a;
    const char* name;
};
const AlgoName kAlgos[] = {{Algorithm::Auto, "auto"},   {Algorithm::Ring, "ring"},
                           {Algorithm::Tree, "tree"},   {Algorithm::Direct, "direct"},
                           {Algorithm::HalvingDoubling, "halving_doubling"},
                           {Algorithm::Hierarchical, "hierarchical"},
                           {Algorithm::Nvls, "nvls"},   {Algorithm::Flow, "flow"},
                           {Algorithm::NvlsTree, "nvls_tree"}, {Algorithm::Pat, "pat"},
                           {Algorithm::CollNet, "collnet"}};

std::string normalise(std::string s) {
    std::string o;
    for (char c : s) {
        if (c == '-' || c == '_' || c == ' ') continue;
        o += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return o;
}

// A protocol across the levels a collective crosses: the scale-up fabric and, between nodes, the
// NIC. Only protocols both levels define are used.
struct Proto {
    std::string name;
    double baseUs = 0, hopSuUs = 0, hopNetUs = 0, bwfSu = 1, bwfNet = 1;
    double capBus = kInf;  // NCCL's bus bandwidth cap for the protocol (bytes/s), channels x per channel or total
};

// NCCL's caps on a protocol's bus bandwidth (src/graph/tuning.cc): channels x the per-channel
// maximum (LL128) and a total maximum (LL); infinite where the catalog gives none.
double protocolCap(const LinkSpec& link, const ProtocolSpec& p) {
    double cap = kInf;
    if (p.perChannelMaxGBs > 0 && link.ncclChannels > 0) cap = link.ncclChannels * p.perChannelMaxGBs * kGB;
    if (p.maxGBs > 0) cap = std::min(cap, p.maxGBs * kGB);
    return cap;
}

struct Geometry {
    int n = 1, g = 1, nodes = 1;
    double suColl = kInf, suP2p = kInf, suPair = kInf;  // bytes/s per GPU (suPair: to one peer)
    double netNode = kInf, netGpu = kInf, netP2p = kInf;
    bool nvls = false;
    double nvlsBw = 0, nvlsLatUs = 0;
    double launchUs = 0;  // one thread launching several GPUs' kernels in turn
    bool sharp = false;   // in-network reduction between nodes
    std::vector<Proto> protos;
};

Geometry geometry(const ResolvedCluster& c, int n, int ranksPerNode, int gpusPerProcess) {
    Geometry G;
    G.launchUs = std::max(0, gpusPerProcess - 1) * (c.gpu ? c.gpu->launchLatencyUs : 0.0);
    G.n = n;
    G.g = std::min(n, ranksPerNode > 0 ? std::min(ranksPerNode, c.system->gpusPerNode) : c.system->gpusPerNode);
    G.nodes = (n + G.g - 1) / G.g;
    const LinkSpec& su = *c.scaleUp;
    const LinkSpec& nic = *c.nic;
    if (G.g > 1) {
        const double links = c.system->fabric == FabricKind::Mesh ? G.g - 1 : 1;
        G.suColl = links * su.bwGBs * su.collectiveEfficiency * kGB;
        G.suP2p = links * su.bwGBs * su.p2pEfficiency * kGB;
        G.suPair = su.bwGBs * su.collectiveEfficiency * kGB;
        G.nvls = su.nvls && c.system->fabric == FabricKind::Switch;
        G.nvlsBw = su.bwGBs * su.nvlsEfficiency * kGB;
        G.nvlsLatUs = su.nvlsLatencyUs;
    }
    if (G.nodes > 1) {
        G.sharp = nic.sharp;
        G.netGpu = nic.bwGBs * nic.collectiveEfficiency * kGB;
        G.netNode = G.g * G.netGpu;
        G.netP2p = nic.bwGBs * nic.p2pEfficiency * kGB;
    }
    // Caps: a scale-up link holds NCCL's one-node figures, a NIC its multi-node ones.
    for (const ProtocolSpec& p : su.protocols) {
        Proto q{p.name, p.baseLatencyUs, p.hopLatencyUs, 0, p.bwFactor, 1, G.nodes > 1 ? kInf : protocolCap(su, p)};
        if (G.nodes > 1) {
            auto it = std::find_if(nic.protocols.begin(), nic.protocols.end(), [&](const ProtocolSpec& x) { return x.name == p.name; });
            if (it == nic.protocols.end()) continue;
            q.baseUs = std::max(q.baseUs, it->baseLatencyUs);
            q.hopNetUs = it->hopLatencyUs;
            q.bwfNet = it->bwFactor;
            q.capBus = protocolCap(nic, *it);
        }
        G.protos.push_back(q);
    }
    if (G.g == 1 && G.nodes > 1) {
        G.protos.clear();
        for (const ProtocolSpec& p : nic.protocols) G.protos.push_back({p.name, p.baseLatencyUs, 0, p.hopLatencyUs, 1, p.bwFactor, protocolCap(nic, p)});
    }
    return G;
}

int ceilLog2(int x) {
    int k = 0;
    while ((1 << k) < x) ++k;
    return k;
}

struct Cost {
    double us = kInf;
    std::string proto;
};

// Takes the cheapest protocol: f(proto) returns microseconds.
template <class F>
Cost cheapest(const Geometry& G, F f) {
    Cost best;
    for (const Proto& p : G.protos) {
        const double us = f(p) + G.launchUs;
        if (us < best.us) best = {us, p.name};
    }
    return best;
}

// Per-rank bandwidth of rings that span nodes. NCCL/RCCL lay their channels so that every GPU
// is the node-crossing hop of some rings: a share 1/g of each GPU's ring traffic leaves through
// its own NIC and the rest over the scale-up fabric, both at once. The ring runs at the rate at
// which the slower of the two drains its share. (Hence two 8 x MI300X nodes reach a higher
// busbw than one: the NICs take an eighth of the load off the xGMI links.)
double ringBw(const Geometry& G, const Proto& p) {
    if (G.nodes <= 1) return std::min(G.suColl * p.bwfSu, p.capBus);
    const double f = 1.0 / G.g;
    double b = G.netGpu * p.bwfNet / f;
    if (G.g > 1) b = std::min(b, G.suColl * p.bwfSu / (1 - f));
    return std::min(b, p.capBus);
}

// Bytes the busiest node sends over its NICs per byte of all-reduce in NCCL's double binary tree
// (each tree carries half the buffer): at two nodes each tree is one edge, S per node; at three
// the root of one tree feeds two children and is a leaf of the other, 1.5 S; from four nodes on
// some node has a parent and two children in one tree and is a leaf of the other, 2 S.
double treeNetFactor(int nodes) { return nodes <= 2 ? 1.0 : nodes == 3 ? 1.5 : 2.0; }

Cost ring(const Geometry& G, CollectiveOp op, double S) {
    const int n = G.n;
    double factor = 1, traversals = 1;
    if (op == CollectiveOp::AllReduce) {
        factor = 2.0 * (n - 1) / n;
        traversals = 2;
    } else if (op == CollectiveOp::ReduceScatter || op == CollectiveOp::AllGather) factor = double(n - 1) / n;
    const int inter = G.nodes > 1 ? std::min(n - 1, G.nodes) : 0;
    const int intra = n - 1 - inter;
    return cheapest(G, [&](const Proto& p) {
        return p.baseUs + traversals * (intra * p.hopSuUs + inter * p.hopNetUs) + factor * S / ringBw(G, p) * 1e6;
    });
}

Cost tree(const Geometry& G, CollectiveOp op, double S) {
    // NCCL's tree: a chain through the GPUs of each node (every GPU sends the buffer up in the
    // reduce and down in the broadcast: 2S over its scale-up link) and a double binary tree of
    // nodes over the NICs; chunks are pipelined, so the slower stage sets the rate.
    const int depth = ceilLog2(G.nodes);
    const double passes = op == CollectiveOp::AllReduce ? 2.0 : 1.0;
    return cheapest(G, [&](const Proto& p) {
        double perByteUs = 0;
        if (G.g > 1) perByteUs = std::max(perByteUs, passes / (kTreeEfficiency * G.suColl * p.bwfSu) * 1e6);
        if (G.nodes > 1) perByteUs = std::max(perByteUs, (op == CollectiveOp::AllReduce ? treeNetFactor(G.nodes) : 1.0) / (G.netNode * p.bwfNet) * 1e6);
        perByteUs = std::max(perByteUs, passes / p.capBus * 1e6);  // the protocol's bus bandwidth cap
        const double lat = depth * p.hopNetUs + (G.g - 1) * p.hopSuUs;
        return p.baseUs + passes * lat + S * perByteUs;
    });
}

// NVLS-tree (NCCL 2.18+ across nodes): the in-switch reduction inside each node, then the tree of
// nodes over the NICs, pipelined.
Cost nvlsTree(const Geometry& G, double S) {
    if (!G.nvls || G.nodes < 2) return {};
    const int depth = ceilLog2(G.nodes);
    Cost best = cheapest(G, [&](const Proto& p) {
        if (p.name != "Simple") return kInf;  // NVLS runs the Simple protocol only
        const double perByteUs = std::max(1.0 / G.nvlsBw, treeNetFactor(G.nodes) / (G.netNode * p.bwfNet)) * 1e6;
        return G.nvlsLatUs + p.baseUs + 2 * depth * p.hopNetUs + S * perByteUs;
    });
    if (best.us < kInf) best.proto = "NVLS";
    return best;
}

Cost halvingDoubling(const Geometry& G, CollectiveOp op, double S) {
    const int steps = ceilLog2(G.n);
    const int phases = op == CollectiveOp::AllReduce ? 2 : 1;
    return cheapest(G, [&](const Proto& p) {
        double us = p.baseUs;
        for (int k = 0; k < steps; ++k) {
            const int dist = 1 << k;
            const double chunk = S / double(2 << k);  // halving: S/2, S/4, ...
            const bool intra = dist < G.g;
            const double bw = intra ? G.suPair * p.bwfSu : G.netGpu * p.bwfNet;
            us += phases * (chunk / bw * 1e6 + (intra ? p.hopSuUs : p.hopNetUs));
        }
        return us;
    });
}

Cost hierarchical(const Geometry& G, CollectiveOp op, double S) {
    const int g = G.g, N = G.nodes;
    return cheapest(G, [&](const Proto& p) {
        const double su = G.suColl * p.bwfSu, net = G.netGpu * p.bwfNet;
        const double intraRs = double(g - 1) / g * S / su * 1e6 + (g - 1) * p.hopSuUs;
        double us = p.baseUs;
        switch (op) {
        case CollectiveOp::AllReduce:
            us += 2 * intraRs + 2.0 * (N - 1) / N * (S / g) / net * 1e6 + 2 * (N - 1) * p.hopNetUs;
            break;
        case CollectiveOp::ReduceScatter:
        case CollectiveOp::AllGather:
            us += intraRs + double(N - 1) / N * (S / g) / net * 1e6 + (N - 1) * p.hopNetUs;
            break;
        case CollectiveOp::AllToAll: {
            // Gather to the rail GPU inside the node, then exchange per rail, as two phases.
            const double inter = double(G.n - g) / G.n * S;
            const double intra = double(g - 1) / G.n * S + double(g - 1) / g * inter;
            us += intra / (G.suP2p * p.bwfSu) * 1e6 + p.hopSuUs + inter / (G.netP2p * p.bwfNet) * 1e6 + p.hopNetUs;
            break;
        }
        default: return kInf;
        }
        return us;
    });
}

Cost direct(const Geometry& G, CollectiveOp op, double S) {
    // all-to-all and all-gather: every rank sends S/n to each peer at once; traffic to other
    // nodes first moves to the rail GPU (PXN), so it loads the scale-up fabric too.
    (void)op;
    const int g = G.g, n = G.n;
    const double inter = double(n - g) / n * S;
    const double intra = double(g - 1) / n * S + (g > 1 ? double(g - 1) / g * inter : 0.0);
    return cheapest(G, [&](const Proto& p) {
        double us = p.baseUs + (G.nodes > 1 ? p.hopNetUs : p.hopSuUs);
        double tsu = g > 1 ? intra / (G.suP2p * p.bwfSu) : 0.0;
        double tnet = G.nodes > 1 ? inter / (G.netP2p * p.bwfNet) : 0.0;
        return us + std::max(tsu, tnet) * 1e6;
    });
}

// All-to-allv of a traffic matrix on the flow model: one flow per rank pair (the diagonal stays
// on its rank), max-min fair on the topology's links, each message paying the Simple protocol's
// base latency and one hop of the level it crosses.
Cost flowAllToAll(const Geometry& G, const Topology& topo, const std::vector<std::vector<double>>& bytes) {
    const int n = static_cast<int>(bytes.size());
    std::vector<double> cap(topo.links.size());
    for (size_t l = 0; l < cap.size(); ++l) cap[l] = topo.links[l].capacityGBs * kGB;
    std::vector<Flow> flows;
    flows.reserve(static_cast<size_t>(n) * static_cast<size_t>(std::max(0, n - 1)));
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            const double b = bytes[static_cast<size_t>(i)][static_cast<size_t>(j)];
            if (j == i || !(b > 0)) continue;
            Flow f;
            f.src = i;
            f.dst = j;
            f.bytes = b;
            const Path p = topo.path(i, j);
            f.hops = p.hops;
            f.links = p.links;
            flows.push_back(f);
        }
    const Proto& simple = G.protos.back();
    FlowOptions fo;
    fo.latency = (simple.baseUs + (G.nodes > 1 ? simple.hopNetUs : simple.hopSuUs)) * 1e-6;
    const FlowSolution s = solveFlows(cap, flows, fo);
    return {s.makespan * 1e6, simple.name};
}

Cost nvls(const Geometry& G, double S) {
    if (!G.nvls) return {};
    return {G.launchUs + G.nvlsLatUs + S / G.nvlsBw * 1e6, "NVLS"};
}

// PAT (NCCL 2.23+): all-gather and reduce-scatter with one GPU per node in log2(n) steps of
// doubling distance instead of the ring's n - 1; the bytes each rank moves are the ring's. Simple
// protocol only.
Cost pat(const Geometry& G, double S) {
    if (G.g != 1 || G.nodes < 2) return {};
    return cheapest(G, [&](const Proto& p) {
        if (p.name != "Simple") return kInf;
        return p.baseUs + ceilLog2(G.n) * p.hopNetUs + double(G.n - 1) / G.n * S / (G.netGpu * p.bwfNet) * 1e6;
    });
}

// CollNet (NCCL with the SHARP plugin and NCCL_COLLNET_ENABLE=1): the switches reduce, so each
// node sends the buffer into the network once and receives the result once, at any node count;
// inside the node NVLS where there is one, else the chain of the tree. Never chosen by auto (it
// needs the plugin and the switch support), only by name for what-if studies.
Cost collNet(const Geometry& G, double S) {
    if (!G.sharp || G.nodes < 2) return {};
    return cheapest(G, [&](const Proto& p) {
        if (p.name != "Simple") return kInf;
        double perByteUs = 1.0 / (G.netNode * p.bwfNet);
        if (G.g > 1) perByteUs = std::max(perByteUs, G.nvls ? 1.0 / G.nvlsBw : 2.0 / (kTreeEfficiency * G.suColl * p.bwfSu));
        return p.baseUs + (G.nvls ? G.nvlsLatUs : 2 * (G.g - 1) * p.hopSuUs) + 2 * p.hopNetUs + S * perByteUs * 1e6;
    });
}

std::string names(const std::vector<Algorithm>& v) {
    std::string s;
    for (Algorithm a : v) s += (s.empty() ? "" : ", ") + toString(a);
    return s;
}

}  // namespace

std::string toString(CollectiveOp op) {
    for (const auto& o : kOps)
        if (o.op == op) return o.name;
    return "?";
}
std::string toString(Algorithm a) {
    for (const auto& o : kAlgos)
        if (o.a == a) return o.name;
    return "?";
}
bool parseOp(const std::string& s, CollectiveOp& op) {
    for (const auto& o : kOps)
        if (normalise(o.name) == normalise(s)) {
            op = o.op;
            return true;
        }
    return false;
}
bool parseAlgorithm(const std::string& s, Algorithm& a) {
    for (const auto& o : kAlgos)
        if (normalise(o.name) == normalise(s)) {
            a = o.a;
            return true;
        }
    return false;
}
const std::vector<std::string>& opNames() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> r;
        for (const auto& o : kOps) r.push_back(o.name);
        return r;
    }();
    return v;
}
const std::vector<std::string>& algorithmNames() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> r;
        for (const auto& o : kAlgos) r.push_back(o.name);
        return r;
    }();
    return v;
}

double busBwFactor(CollectiveOp op, int n) {
    switch (op) {
    case CollectiveOp::AllReduce: return 2.0 * (n - 1) / n;
    case CollectiveOp::Broadcast: return 1.0;
    default: return double(n - 1) / n;
    }
}

std::vector<Algorithm> applicableAlgorithms(const ResolvedCluster& c, CollectiveOp op, int n) {
    const int g = std::min(n, c.system->gpusPerNode);
    const int nodes = (n + g - 1) / g;
    const bool pow2 = n > 0 && (n & (n - 1)) == 0;
    std::vector<Algorithm> v;
    switch (op) {
    case CollectiveOp::AllReduce:
        v = {Algorithm::Ring};
        if (nodes > 1) v.push_back(Algorithm::Tree);
        if (pow2) v.push_back(Algorithm::HalvingDoubling);
        if (nodes > 1 && g > 1) v.push_back(Algorithm::Hierarchical);
        if (nodes == 1 && g > 1 && c.scaleUp->nvls && c.system->fabric == FabricKind::Switch) v.push_back(Algorithm::Nvls);
        if (nodes > 1 && g > 1 && c.scaleUp->nvls && c.system->fabric == FabricKind::Switch) v.push_back(Algorithm::NvlsTree);
        if (nodes > 1 && c.nic->sharp) v.push_back(Algorithm::CollNet);
        break;
    case CollectiveOp::ReduceScatter:
    case CollectiveOp::AllGather:
        v = {Algorithm::Ring};
        if (pow2) v.push_back(Algorithm::HalvingDoubling);
        if (nodes > 1 && g > 1) v.push_back(Algorithm::Hierarchical);
        if (op == CollectiveOp::AllGather) v.push_back(Algorithm::Direct);
        if (g == 1 && nodes > 1) v.push_back(Algorithm::Pat);
        break;
    case CollectiveOp::Broadcast:
        v = {Algorithm::Ring};
        if (nodes > 1) v.push_back(Algorithm::Tree);
        break;
    case CollectiveOp::AllToAll:
        v = {Algorithm::Direct};
        if (nodes > 1 && g > 1) v.push_back(Algorithm::Hierarchical);
        if (n <= kMaxFlowRanks) v.push_back(Algorithm::Flow);
        break;
    case CollectiveOp::AllToAllV:
        if (n <= kMaxFlowRanks) v = {Algorithm::Flow};
        break;
    }
    return v;
}

spec::Result<CollectiveEstimate> estimateCollective(const ResolvedCluster& c, const Topology* topo, CollectiveOp op, double bytes,
                                                    int n, const CollectiveOptions& opt) {
    if (opt.ranksPerNode <= 0)
        if (std::string e = c.checkGpuCount(n); !e.empty()) return spec::Diagnostics{{"--gpus", e}};
    if (n < 2) return spec::Diagnostics{{"--gpus", "a collective needs at least 2 GPUs"}};
    if (!(bytes > 0)) return spec::Diagnostics{{"--sizes", "sizes must be positive"}};
    auto algos = applicableAlgorithms(c, op, n);
    if (opt.ranksPerNode > 0)  // strided groups: no contiguous-rank algorithms (NVLS, flow)
        algos.erase(std::remove_if(algos.begin(), algos.end(),
                                   [](Algorithm a) { return a == Algorithm::Nvls || a == Algorithm::NvlsTree || a == Algorithm::Flow; }),
                    algos.end());
    if (opt.ranksPerNode == 1 && (op == CollectiveOp::AllGather || op == CollectiveOp::ReduceScatter) &&
        std::find(algos.begin(), algos.end(), Algorithm::Pat) == algos.end())
        algos.push_back(Algorithm::Pat);  // one rank per node: NCCL's PAT
    if (algos.empty())
        return spec::Diagnostics{{"--gpus", toString(op) + " uses the flow model, which takes at most " + std::to_string(kMaxFlowRanks) +
                                                " GPUs (" + std::to_string(n) + " given)"}};
    std::vector<Algorithm> tryAlgos;
    if (opt.algorithm == Algorithm::Auto) {
        // Auto picks among what NCCL/RCCL implement (ring, tree, NVLS; direct send/recv for
        // all-to-all), so it predicts what nccl-tests measures; halving-doubling and the
        // two-phase hierarchical schemes stay available by name for what-if studies.
        for (Algorithm a : algos) {
            if (!opt.nvls && (a == Algorithm::Nvls || a == Algorithm::NvlsTree)) continue;
            const bool ncclLike = a == Algorithm::Ring || a == Algorithm::Tree || a == Algorithm::Nvls || a == Algorithm::NvlsTree || a == Algorithm::Pat ||
                                  (a == Algorithm::Direct && op == CollectiveOp::AllToAll) || (a == Algorithm::Flow && op == CollectiveOp::AllToAllV);
            if (ncclLike) tryAlgos.push_back(a);
        }
    } else {
        if (std::find(algos.begin(), algos.end(), opt.algorithm) == algos.end())
            return spec::Diagnostics{{"--algo", toString(opt.algorithm) + " does not apply to " + toString(op) + " on " + std::to_string(n) +
                                                    " GPUs of " + c.cluster->name + "; valid: " + names(algos)}};
        tryAlgos = {opt.algorithm};
    }
    const Geometry G = geometry(c, n, opt.ranksPerNode, opt.gpusPerProcess);
    if (G.protos.empty())
        return spec::Diagnostics{{"", "links " + c.scaleUp->name + " and " + c.nic->name + " share no protocol in the catalog"}};
    CollectiveEstimate best;
    best.timeUs = kInf;
    for (Algorithm a : tryAlgos) {
        Cost cost;
        switch (a) {
        case Algorithm::Ring: cost = ring(G, op, bytes); break;
        case Algorithm::Tree: cost = tree(G, op, bytes); break;
        case Algorithm::HalvingDoubling: cost = halvingDoubling(G, op, bytes); break;
        case Algorithm::Hierarchical: cost = hierarchical(G, op, bytes); break;
        case Algorithm::Direct: cost = direct(G, op, bytes); break;
        case Algorithm::Nvls: cost = nvls(G, bytes); break;
        case Algorithm::NvlsTree: cost = nvlsTree(G, bytes); break;
        case Algorithm::Pat: cost = pat(G, bytes); break;
        case Algorithm::CollNet: cost = collNet(G, bytes); break;
        case Algorithm::Flow: {
            if (!topo) return spec::Diagnostics{{"", "the flow model needs the cluster's topology"}};
            // Destination j receives in proportion to 1/(j+1)^skew (zipf); every rank sends `bytes`.
            const double skew = op == CollectiveOp::AllToAll ? 0.0 : opt.skew;
            std::vector<std::vector<double>> matrix(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n), 0.0));
            for (int i = 0; i < n; ++i) {
                auto& row = matrix[static_cast<size_t>(i)];
                double sum = 0;
                for (int j = 0; j < n; ++j) sum += (row[static_cast<size_t>(j)] = j == i ? 0.0 : std::pow(j + 1.0, -skew));
                // nccl-tests all-to-all sends bytes/n to each rank (itself included).
                for (auto& b : row) b *= bytes * double(n - 1) / n / sum;
            }
            cost = flowAllToAll(G, *topo, matrix);
            break;
        }
        case Algorithm::Auto: break;
        }
        if (cost.us < best.timeUs) {
            best.timeUs = cost.us;
            best.algorithm = a;
            best.protocol = cost.proto;
        }
    }
    best.op = op;
    best.ranks = n;
    best.bytes = bytes;
    best.algbwGBs = bytes / (best.timeUs * 1e-6) / kGB;
    best.busbwGBs = best.algbwGBs * busBwFactor(op, n);
    return best;
}

spec::Result<double> estimateAllToAllV(const ResolvedCluster& c, const Topology& topology, const std::vector<std::vector<double>>& bytes) {
    const int n = static_cast<int>(bytes.size());
    if (std::string e = c.checkGpuCount(n); !e.empty()) return spec::Diagnostics{{"ranks", e}};
    if (n < 2) return spec::Diagnostics{{"ranks", "an all-to-all needs at least 2 ranks"}};
    if (n > kMaxFlowRanks)
        return spec::Diagnostics{{"ranks", "the flow model takes at most " + std::to_string(kMaxFlowRanks) + " ranks (" + std::to_string(n) + " given)"}};
    if (topology.gpus < n)
        return spec::Diagnostics{{"ranks", "the topology holds " + std::to_string(topology.gpus) + " GPUs, the traffic " + std::to_string(n) + " ranks"}};
    for (int i = 0; i < n; ++i) {
        const auto& row = bytes[static_cast<size_t>(i)];
        if (static_cast<int>(row.size()) != n)
            return spec::Diagnostics{{"bytes[" + std::to_string(i) + "]", std::to_string(row.size()) + " destinations; expected one per rank (" + std::to_string(n) + ")"}};
        for (int j = 0; j < n; ++j)
            if (!(row[static_cast<size_t>(j)] >= 0) || !std::isfinite(row[static_cast<size_t>(j)]))
                return spec::Diagnostics{{"bytes[" + std::to_string(i) + "][" + std::to_string(j) + "]", "not a finite byte count >= 0"}};
    }
    const Geometry G = geometry(c, n, 0, 1);
    if (G.protos.empty())
        return spec::Diagnostics{{"", "links " + c.scaleUp->name + " and " + c.nic->name + " share no protocol in the catalog"}};
    return flowAllToAll(G, topology, bytes).us;
}

spec::Result<double> parseBytes(const std::string& text, const std::string& where) {
    std::string t = text;
    double mult = 1;
    if (!t.empty()) {
        const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(t.back())));
        const std::string units = "BKMGT";
        if (auto pos = units.find(u); pos != std::string::npos) {
            mult = std::pow(1024.0, static_cast<double>(pos));
            t.pop_back();
        }
    }
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || end == t.c_str() || *end != '\0' || !(v > 0) || !std::isfinite(v))
        return spec::Diagnostics{{where, "\"" + text + "\" is not a size; expected a positive number with an optional unit B, K, M, G or T (e.g. 8, 64K, 16G)"}};
    const double bytes = v * mult;
    if (bytes > 1e15) return spec::Diagnostics{{where, "\"" + text + "\" is too large (at most 1 PB)"}};
    return bytes;
}

constexpr size_t kMaxSizes = 200;

spec::Result<std::vector<double>> parseSizes(const std::string& text, const std::string& where) {
    std::vector<double> out;
    if (text.find(':') != std::string::npos) {
        std::vector<std::string> parts;
        size_t a = 0;
        for (size_t b; (b = text.find(':', a)) != std::string::npos; a = b + 1) parts.push_back(text.substr(a, b - a));
        parts.push_back(text.substr(a));
        if (parts.size() < 2 || parts.size() > 3)
            return spec::Diagnostics{{where, "\"" + text + "\": expected MIN:MAX or MIN:MAX:FACTOR (e.g. 8:16G or 1M:1G:4)"}};
        auto lo = parseBytes(parts[0], where);
        auto hi = parseBytes(parts[1], where);
        if (!lo) return lo.errors();
        if (!hi) return hi.errors();
        double f = 2;
        if (parts.size() == 3) {
            char* end = nullptr;
            f = std::strtod(parts[2].c_str(), &end);
            if (end == parts[2].c_str() || *end != '\0' || !(f > 1 && f <= 1024))
                return spec::Diagnostics{{where, "factor \"" + parts[2] + "\" must be a number above 1 (e.g. 2)"}};
        }
        if (hi.value() < lo.value()) return spec::Diagnostics{{where, "\"" + text + "\": MAX is below MIN"}};
        // The count first: a factor just above 1 over a wide range would otherwise build billions
        // of sizes before the limit below could refuse them.
        const double count = std::floor(std::log(hi.value() / lo.value()) / std::log(f) + 1e-9) + 1;
        if (!(count <= kMaxSizes))
            return spec::Diagnostics{{where, "\"" + text + "\" gives " + spec::humanCount(count) + " sizes; at most " + std::to_string(kMaxSizes) +
                                                 " (use a larger factor)"}};
        for (double s = lo.value(); s <= hi.value() * (1 + 1e-9) && out.size() <= kMaxSizes; s *= f) out.push_back(std::round(s));
    } else {
        size_t a = 0;
        while (a <= text.size()) {
            size_t b = text.find(',', a);
            if (b == std::string::npos) b = text.size();
            auto v = parseBytes(text.substr(a, b - a), where);
            if (!v) return v.errors();
            out.push_back(v.value());
            if (out.size() > kMaxSizes) break;
            a = b + 1;
        }
    }
    if (out.empty()) return spec::Diagnostics{{where, "no sizes given"}};
    if (out.size() > kMaxSizes) return spec::Diagnostics{{where, "\"" + text + "\" gives more than " + std::to_string(kMaxSizes) + " sizes"}};
    return out;
}

}  // namespace moe::cluster
