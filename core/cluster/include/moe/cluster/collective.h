#pragma once
// Collective costs on a cluster. Latency-bandwidth models per algorithm and NCCL-style protocol
// (base latency + steps x hop latency + bytes / bandwidth, the cheapest protocol wins), with the
// catalog's efficiency factors; all-to-allv goes through the flow-level model instead. The
// algorithms and their choice follow NCCL 2.18-2.26 (ring, double binary tree, NVLS, NVLS-tree,
// PAT from 2.23, CollNet by name) and RCCL 2.22 on xGMI meshes (ring and tree); the structure is
// that of NCCL's tuning model (src/graph/tuning.cc), the figures are the catalog's.
//
// Sizes and bandwidths follow nccl-tests (doc/PERFORMANCE.md) so figures compare one to one:
//   size  = bytes of the per-rank buffer nccl-tests prints (all-gather: the gathered output,
//           reduce-scatter: the input, all-to-all: the send buffer)
//   algbw = size / time
//   busbw = algbw x factor: all-reduce 2(n-1)/n, reduce-scatter, all-gather and all-to-all
//           (n-1)/n, broadcast 1.

#include <string>
#include <vector>

#include "moe/cluster/catalog.h"
#include "moe/spec/diagnostic.h"

namespace moe::cluster {

struct Topology;

enum class CollectiveOp { AllReduce, ReduceScatter, AllGather, Broadcast, AllToAll, AllToAllV };
enum class Algorithm { Auto, Ring, Tree, Direct, HalvingDoubling, Hierarchical, Nvls, Flow, NvlsTree, Pat, CollNet };

std::string toString(CollectiveOp op);
std::string toString(Algorithm a);
// Parses "all_reduce"/"allreduce"/"all-reduce", ...; false when unknown.
bool parseOp(const std::string& s, CollectiveOp& op);
bool parseAlgorithm(const std::string& s, Algorithm& a);
const std::vector<std::string>& opNames();
const std::vector<std::string>& algorithmNames();

double busBwFactor(CollectiveOp op, int ranks);

struct CollectiveEstimate {
    CollectiveOp op = CollectiveOp::AllReduce;
    Algorithm algorithm = Algorithm::Ring;  // the one used (never Auto)
    std::string protocol;                   // "LL", "LL128", "Simple"
    int ranks = 0;
    double bytes = 0;                       // nccl-tests size
    double timeUs = 0;
    double algbwGBs = 0;
    double busbwGBs = 0;
};

struct CollectiveOptions {
    Algorithm algorithm = Algorithm::Auto;
    double skew = 1.0;          // all-to-allv: zipf exponent of how much each destination receives
    int ranksPerNode = 0;       // 0: ranks fill whole nodes; else this many ranks share a node
                                // (a strided group, e.g. data-parallel replicas on one rail)
    int gpusPerProcess = 1;     // GPUs one host thread drives (nccl-tests -g N): it launches
                                // their kernels one after another, which adds to the floor
    bool nvls = true;           // false: as NCCL_NVLS_ENABLE=0 (no NVLS, no NVLS-tree in auto)
};

// The algorithms that apply to `op` on this cluster and rank count (Auto excluded).
std::vector<Algorithm> applicableAlgorithms(const ResolvedCluster& c, CollectiveOp op, int ranks);

// Cost of one collective over ranks 0..ranks-1 of the cluster. Errors name the option
// ("--algo", "--gpus") and what would be valid. `topology` is needed for all-to-allv (flow model);
// it may be null for the others.
spec::Result<CollectiveEstimate> estimateCollective(const ResolvedCluster& c, const Topology* topology, CollectiveOp op,
                                                    double bytes, int ranks, const CollectiveOptions& opt = {});

// All-to-allv of an explicit traffic matrix, bytes[i][j] from rank i to rank j (ranks 0..n-1 of
// the cluster; the diagonal stays on its rank and costs nothing), priced by the flow model on
// `topology` (buildTopology of at least n GPUs) as the Flow algorithm prices all-to-allv: one
// flow per pair, max-min fair sharing, the Simple protocol's per-message latency. Microseconds.
spec::Result<double> estimateAllToAllV(const ResolvedCluster& c, const Topology& topology, const std::vector<std::vector<double>>& bytes);

// Sizes as nccl-tests takes them: "MIN:MAX[:FACTOR]" (factor 2 by default) or a comma list;
// units B, K, M, G, T are binary (16G = 16 GiB), as in nccl-tests -b/-e.
spec::Result<std::vector<double>> parseSizes(const std::string& text, const std::string& where);
spec::Result<double> parseBytes(const std::string& text, const std::string& where);

// Largest rank count the flow-level all-to-allv accepts (ranks^2 flows).
inline constexpr int kMaxFlowRanks = 512;

}  // namespace moe::cluster
