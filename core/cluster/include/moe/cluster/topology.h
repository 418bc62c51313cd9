#pragma once
// The physical graph of a cluster: GPUs, scale-up switches (NVSwitch) or direct GPU-to-GPU links
// (xGMI mesh), NICs, leaf switches and the spine layer. Links are directed (one per direction)
// and carry their effective point-to-point capacity. Plain data, for the simulator and for
// dashboards that draw the cluster.
//
// Layout rules: rank r lives on node r / gpusPerNode as local GPU r % gpusPerNode; NIC i of a
// node is on rail i (one NIC per GPU). Rail-optimised fat trees group `nodesPerLeaf` nodes under
// one leaf per rail; leaves reach each other through a non-blocking spine layer, modelled as one
// spine device per topology (rails-only: one per rail) with the leaf uplinks as its links.

#include <array>
#include <string>
#include <vector>

#include "moe/cluster/catalog.h"

namespace moe::cluster {

enum class DeviceKind { Gpu, ScaleUpSwitch, LeafSwitch, Spine };

struct Device {
    DeviceKind kind = DeviceKind::Gpu;
    int node = -1;   // node index for GPUs and scale-up switches, -1 otherwise
    int index = 0;   // GPU: rank; leaf: rail * pods + pod; spine: rail (rails-only) or 0
};

enum class LinkRole {
    ScaleUpOut,  // GPU -> scale-up switch
    ScaleUpIn,   // scale-up switch -> GPU
    Mesh,        // GPU -> GPU (xGMI)
    NicOut,      // GPU (its NIC) -> leaf
    NicIn,       // leaf -> GPU
    LeafUp,      // leaf -> spine (all uplinks of a leaf together)
    LeafDown     // spine -> leaf
};

struct Link {
    int from = 0, to = 0;          // device indices
    LinkRole role = LinkRole::ScaleUpOut;
    double capacityGBs = 0;        // effective point-to-point capacity, GB/s
    double specGBs = 0;            // specification, GB/s
};

// Links a message crosses from one GPU to another (at most 6).
struct Path {
    int hops = 0;
    std::array<int, 6> links{};
};

struct Topology {
    std::string cluster;           // catalog names
    std::string system;
    std::string topology;
    FabricKind fabric = FabricKind::Switch;
    TopologyKind kind = TopologyKind::RailFatTree;
    int gpus = 0;
    int nodes = 0;
    int gpusPerNode = 0;           // GPUs per full node (the last node may hold fewer only if gpus < gpusPerNode)
    int rails = 0;
    int pods = 0;                  // leaf groups per rail (0: single node, no network)
    int nodesPerLeaf = 1;
    std::vector<Device> devices;   // GPUs first: device r is rank r
    std::vector<Link> links;

    int nodeOf(int rank) const { return rank / gpusPerNode; }
    int localOf(int rank) const { return rank % gpusPerNode; }
    // The links a message from rank a to rank b crosses. Cross-rail traffic between nodes is
    // first moved over the scale-up fabric to the GPU on the destination's rail (NCCL's PXN),
    // which is the only way on a rails-only network and avoids the spine on a fat tree.
    Path path(int a, int b) const;
    std::string deviceName(int device) const;
    std::string linkName(int link) const;

    // Link index bases (internal layout, public so tests and dashboards can find links).
    int scaleUpBase = 0, meshBase = 0, nicBase = 0, leafBase = 0;
    int scaleUpOut(int rank) const { return scaleUpBase + 2 * rank; }
    int scaleUpIn(int rank) const { return scaleUpBase + 2 * rank + 1; }
    int meshLink(int a, int b) const;   // a != b on the same node
    int nicOut(int rank) const { return nicBase + 2 * rank; }
    int nicIn(int rank) const { return nicBase + 2 * rank + 1; }
    int leafOf(int rank) const;         // -1 without leaves
    int leafUp(int leaf) const { return leafBase + 2 * leaf; }
    int leafDown(int leaf) const { return leafBase + 2 * leaf + 1; }
};

// Builds the graph of `gpus` GPUs of a resolved cluster. `gpus` must pass checkGpuCount.
Topology buildTopology(const ResolvedCluster& c, int gpus);

std::string toString(LinkRole r);
std::string toString(DeviceKind k);

}  // namespace moe::cluster
