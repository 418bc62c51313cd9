#pragma once
// The hardware catalog: GPUs, link types, systems (one node), scale-out topologies and named
// clusters (a system repeated over a topology). The data lives in JSON files under
// core/cluster/catalog/ (installed to share/moe-studio/catalog); every number there carries its
// source. A copy is compiled into the library so a build tree or a moved binary still works.
//
// Units: bandwidths in GB/s (1e9 bytes/s) per direction, latencies in microseconds, compute in
// TFLOP/s (dense), memory in GiB.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "moe/spec/diagnostic.h"

namespace moe::cluster {

struct GpuSpec {
    std::string name, vendor, display;
    double hbmGiB = 0;
    double hbmTBs = 0;          // TB/s
    double bf16Tflops = 0;      // dense peak
    double fp8Tflops = 0;       // dense peak
    double gemmEfficiency = 0;  // fraction of peak large GEMMs reach
    double hbmEfficiency = 0;   // fraction of HBM bandwidth streaming kernels reach
    double launchLatencyUs = 0; // host cost of launching one more GPU's collective kernel from
                                // the same thread (nccl-tests -g N); optional, 0 when absent
    int computeUnits = 0;       // SMs (NVIDIA) or CUs (AMD); optional, 0 when unknown
};

// One NCCL-style protocol: time = baseLatency + steps x hopLatency + bytes / (bw x bwFactor).
// NCCL's tuning model also caps a protocol's bus bandwidth: per channel (LL128) and in total (LL);
// 0 = no cap. On a scale-up link they are NCCL's one-node figures, on a NIC its multi-node ones.
struct ProtocolSpec {
    std::string name;           // "LL", "LL128", "Simple"
    double baseLatencyUs = 0;
    double hopLatencyUs = 0;
    double bwFactor = 1;
    double perChannelMaxGBs = 0;  // x LinkSpec::ncclChannels
    double maxGBs = 0;
};

enum class LinkKind { ScaleUp, Host, Nic };

struct LinkSpec {
    std::string name, display;
    LinkKind kind = LinkKind::ScaleUp;
    double bwGBs = 0;                 // spec, per direction: per GPU (switched) or per link (mesh)
    int linksPerGpu = 1;              // mesh fabrics: direct links per GPU
    double collectiveEfficiency = 1;  // busbw / spec reached by ring collectives
    double p2pEfficiency = 1;         // fraction reached by point-to-point traffic
    bool nvls = false;                // in-switch reduction (NVLink SHARP)
    double nvlsEfficiency = 0;        // NVLS algbw / spec
    double nvlsLatencyUs = 0;
    int ncclChannels = 0;             // ring/tree channels NCCL builds over this level (0: unknown)
    // NICs: what one expert-parallel dispatch / combine call of a kernel library (not NCCL) costs
    // beyond the kernel's own RDMA figures (fitted on ConnectX-7) when its group spans nodes.
    double epDispatchExtraUs = 0, epCombineExtraUs = 0;
    bool sharp = false;               // NICs: the switches reduce in the network (SHARP, CollNet)
    std::vector<ProtocolSpec> protocols;
    std::map<std::string, std::string> sources;  // the entry's "sources" (number -> where from)
};

enum class FabricKind { Switch, Mesh };

struct SystemSpec {
    std::string name, display;
    std::string gpu, scaleUp, hostLink, nic;  // catalog names
    FabricKind fabric = FabricKind::Switch;
    int gpusPerNode = 8;
    int nicsPerNode = 8;
};

enum class TopologyKind { RailFatTree, RailsOnly, SingleSwitch };

struct TopologySpec {
    std::string name, display;
    TopologyKind kind = TopologyKind::RailFatTree;
    int switchRadix = 64;
    int levels = 2;
    int nodesPerLeaf = 32;            // nodes under one leaf switch (a scalable unit)
    double oversubscription = 1.0;    // leaf down / up capacity

    // NIC ports the topology can connect (all rails together for rail-optimised fat trees,
    // one rail for rails-only networks).
    long long maxNicPorts() const;
};

// An expert-parallel dispatch/combine kernel library (ep_kernels.json, optional file).
//  - direct: every token-expert copy goes straight to the expert's rank (NVLink inside the
//    node, the NIC between nodes): DeepEP low-latency, pplx-kernels, MORI-EP.
//  - node_forward: a token crosses the network once per destination node (to the GPU on the
//    same rail) and is forwarded over NVLink to the ranks there: DeepEP normal kernels.
//  - nccl: NCCL/RCCL all-to-all of the per-rank send buffer (collective.h).
enum class EpKernelMode { Direct, NodeForward, Nccl };

struct EpKernelSpec {
    std::string name, display;
    EpKernelMode mode = EpKernelMode::Direct;
    double dispatchLatencyUs = 0;   // fixed cost of one dispatch (launch, notify, completion)
    double combineLatencyUs = 0;
    double dispatchRdmaLatencyUs = 0;  // added when the group spans nodes (RDMA round trips)
    double combineRdmaLatencyUs = 0;
    // SMs / CUs the kernel holds while it moves data (0: none, e.g. DeepEP's hook-based
    // low-latency mode); compute running beside it gets the rest of the GPU.
    int computeUnits = 0;
    // The GPU vendors (gpus.json "vendor") the library runs on: DeepEP and pplx-kernels are CUDA,
    // MORI-EP is ROCm. Empty: any.
    std::vector<std::string> vendors;
    bool runsOn(const std::string& vendor) const;
};

struct ClusterSpec {
    std::string name, system, topology;
};

// A cluster with its parts resolved (pointers into the catalog that produced it).
struct ResolvedCluster {
    const ClusterSpec* cluster = nullptr;
    const SystemSpec* system = nullptr;
    const GpuSpec* gpu = nullptr;
    const LinkSpec* scaleUp = nullptr;
    const LinkSpec* nic = nullptr;
    const LinkSpec* hostLink = nullptr;
    const TopologySpec* topology = nullptr;

    int maxGpus() const;
    // Empty when `gpus` fits; otherwise what would be valid.
    std::string checkGpuCount(int gpus) const;
};

class Catalog {
public:
    // Loads gpus.json, links.json, systems.json, topologies.json, clusters.json (and
    // ep_kernels.json when present) from a folder.
    static spec::Result<Catalog> loadDir(const std::string& dir);
    // The copy compiled into the library.
    static spec::Result<Catalog> builtin();
    // The editable catalog next to the program or in the source tree when there is one (see
    // locateCatalogDir), else the built-in copy. Errors in an editable catalog are reported, not
    // silently replaced by the built-in one.
    //
    // Catalog overlays are applied on top: first the *.json files of the user catalog folders
    // (userCatalogDirs, in name order), then `overlayFiles` in the order given. An overlay is a
    // JSON object with any of the arrays "gpus", "links", "systems", "topologies", "clusters";
    // an entry replaces the entry of the same name (whole) or adds a new one, and is checked as
    // the shipped ones are (every number with its source). `moe calibrate --overlay` writes them.
    static spec::Result<Catalog> loadDefault();
    static spec::Result<Catalog> loadDefault(const std::vector<std::string>& overlayFiles);
    // Parses the five documents (file name -> text); `origin` names them in messages. Overlays:
    // (file name for messages, text), applied in order.
    static spec::Result<Catalog> parse(const std::map<std::string, std::string>& files, const std::string& origin);
    static spec::Result<Catalog> parse(const std::map<std::string, std::string>& files, const std::string& origin,
                                       const std::vector<std::pair<std::string, std::string>>& overlays);

    const std::vector<GpuSpec>& gpus() const { return m_gpus; }
    const std::vector<LinkSpec>& links() const { return m_links; }
    const std::vector<SystemSpec>& systems() const { return m_systems; }
    const std::vector<TopologySpec>& topologies() const { return m_topologies; }
    const std::vector<ClusterSpec>& clusters() const { return m_clusters; }
    const std::vector<EpKernelSpec>& epKernels() const { return m_epKernels; }
    const EpKernelSpec* epKernel(const std::string& name) const;
    const std::string& origin() const { return m_origin; }

    const GpuSpec* gpu(const std::string& name) const;
    const LinkSpec* link(const std::string& name) const;
    const SystemSpec* system(const std::string& name) const;
    const TopologySpec* topology(const std::string& name) const;
    const ClusterSpec* cluster(const std::string& name) const;

    // Resolves a cluster name; the error lists the known names. `path` is the JSON path or option
    // the name came from (e.g. "deployment.cluster" or "--cluster").
    spec::Result<ResolvedCluster> resolve(const std::string& clusterName, const std::string& path) const;
    std::vector<std::string> clusterNames() const;

    // Mutable access for calibration (fitted efficiencies replace catalog ones).
    LinkSpec* mutableLink(const std::string& name);

private:
    std::vector<GpuSpec> m_gpus;
    std::vector<LinkSpec> m_links;
    std::vector<SystemSpec> m_systems;
    std::vector<TopologySpec> m_topologies;
    std::vector<ClusterSpec> m_clusters;
    std::vector<EpKernelSpec> m_epKernels;
    std::string m_origin;
};

// Where the editable catalog is: $MOE_CLUSTER_CATALOG, <exe>/../share/moe-studio/catalog,
// <exe>/catalog, or the source tree's core/cluster/catalog. Empty when none exists.
std::string locateCatalogDir();

// The user catalog folders that exist: $XDG_CONFIG_HOME/moe-studio/catalog (default
// ~/.config/...) and $XDG_DATA_HOME/moe-studio/catalog (default ~/.local/share/...). Calibrated
// overlays go there to apply to every command and the studio.
std::vector<std::string> userCatalogDirs();

std::string toString(LinkKind k);
std::string toString(FabricKind k);
std::string toString(TopologyKind k);

}  // namespace moe::cluster
