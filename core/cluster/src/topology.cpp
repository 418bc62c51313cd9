#include "moe/cluster/topology.h"

#include <algorithm>

namespace moe::cluster {

int Topology::meshLink(int a, int b) const {
    const int g = gpusPerNode;
    const int n = nodeOf(a), i = localOf(a), j = localOf(b);
    return meshBase + n * g * (g - 1) + i * (g - 1) + (j < i ? j : j - 1);
}

int Topology::leafOf(int rank) const {
    if (pods == 0) return -1;
    if (kind == TopologyKind::SingleSwitch) return 0;
    const int pod = nodeOf(rank) / std::max(1, nodesPerLeaf);
    return localOf(rank) * pods + pod;
}

Path Topology::path(int a, int b) const {
    Path p;
    if (a == b) return p;
    auto add = [&](int l) { p.links[static_cast<size_t>(p.hops++)] = l; };
    auto scaleUp = [&](int x, int y) {
        if (fabric == FabricKind::Switch) {
            add(scaleUpOut(x));
            add(scaleUpIn(y));
        } else add(meshLink(x, y));
    };
    if (nodeOf(a) == nodeOf(b)) {
        scaleUp(a, b);
        return p;
    }
    int src = a;
    if (kind != TopologyKind::SingleSwitch && localOf(a) != localOf(b)) {
        src = nodeOf(a) * gpusPerNode + localOf(b);  // PXN: hop to the destination's rail first
        scaleUp(a, src);
    }
    add(nicOut(src));
    if (kind != TopologyKind::SingleSwitch) {
        const int la = leafOf(src), lb = leafOf(b);
        if (la != lb) {
            add(leafUp(la));
            add(leafDown(lb));
        }
    }
    add(nicIn(b));
    return p;
}

std::string toString(LinkRole r) {
    switch (r) {
    case LinkRole::ScaleUpOut: return "scale-up out";
    case LinkRole::ScaleUpIn: return "scale-up in";
    case LinkRole::Mesh: return "mesh";
    case LinkRole::NicOut: return "NIC out";
    case LinkRole::NicIn: return "NIC in";
    case LinkRole::LeafUp: return "leaf up";
    case LinkRole::LeafDown: return "leaf down";
    }
    return "?";
}

std::string toString(DeviceKind k) {
    switch (k) {
    case DeviceKind::Gpu: return "gpu";
    case DeviceKind::ScaleUpSwitch: return "scale-up switch";
    case DeviceKind::LeafSwitch: return "leaf";
    case DeviceKind::Spine: return "spine";
    }
    return "?";
}

std::string Topology::deviceName(int d) const {
    const Device& v = devices[static_cast<size_t>(d)];
    switch (v.kind) {
    case DeviceKind::Gpu: return "gpu" + std::to_string(v.index) + " (node " + std::to_string(v.node) + ")";
    case DeviceKind::ScaleUpSwitch: return "node" + std::to_string(v.node) + " switch";
    case DeviceKind::LeafSwitch:
        if (kind == TopologyKind::SingleSwitch) return "switch";
        return "leaf rail" + std::to_string(v.index / std::max(1, pods)) + " pod" + std::to_string(v.index % std::max(1, pods));
    case DeviceKind::Spine: return kind == TopologyKind::RailsOnly ? "spine rail" + std::to_string(v.index) : "spine";
    }
    return "?";
}

std::string Topology::linkName(int l) const {
    const Link& k = links[static_cast<size_t>(l)];
    return deviceName(k.from) + " -> " + deviceName(k.to) + " [" + toString(k.role) + "]";
}

Topology buildTopology(const ResolvedCluster& c, int gpus) {
    Topology t;
    t.cluster = c.cluster->name;
    t.system = c.system->name;
    t.topology = c.topology->name;
    t.fabric = c.system->fabric;
    t.kind = c.topology->kind;
    t.gpus = gpus;
    t.gpusPerNode = std::min(gpus, c.system->gpusPerNode);
    t.nodes = (gpus + t.gpusPerNode - 1) / t.gpusPerNode;
    t.rails = t.gpusPerNode;
    t.nodesPerLeaf = std::max(1, c.topology->nodesPerLeaf);
    const int g = t.gpusPerNode;

    for (int r = 0; r < gpus; ++r) t.devices.push_back({DeviceKind::Gpu, t.nodeOf(r), r});
    const LinkSpec& su = *c.scaleUp;
    const LinkSpec& nic = *c.nic;

    // Scale-up fabric.
    if (t.fabric == FabricKind::Switch) {
        const int sw0 = static_cast<int>(t.devices.size());
        for (int n = 0; n < t.nodes; ++n) t.devices.push_back({DeviceKind::ScaleUpSwitch, n, n});
        t.scaleUpBase = static_cast<int>(t.links.size());
        for (int r = 0; r < gpus; ++r) {
            const int sw = sw0 + t.nodeOf(r);
            t.links.push_back({r, sw, LinkRole::ScaleUpOut, su.bwGBs * su.p2pEfficiency, su.bwGBs});
            t.links.push_back({sw, r, LinkRole::ScaleUpIn, su.bwGBs * su.p2pEfficiency, su.bwGBs});
        }
    } else {
        t.meshBase = static_cast<int>(t.links.size());
        for (int n = 0; n < t.nodes; ++n)
            for (int i = 0; i < g; ++i)
                for (int j = 0; j < g; ++j)
                    if (i != j) t.links.push_back({n * g + i, n * g + j, LinkRole::Mesh, su.bwGBs * su.p2pEfficiency, su.bwGBs});
    }

    // Scale-out network: only when there is more than one node.
    if (t.nodes > 1) {
        const int leaf0 = static_cast<int>(t.devices.size());
        if (t.kind == TopologyKind::SingleSwitch) {
            t.pods = 1;
            t.devices.push_back({DeviceKind::LeafSwitch, -1, 0});
        } else {
            t.pods = (t.nodes + t.nodesPerLeaf - 1) / t.nodesPerLeaf;
            for (int rail = 0; rail < t.rails; ++rail)
                for (int pod = 0; pod < t.pods; ++pod) t.devices.push_back({DeviceKind::LeafSwitch, -1, rail * t.pods + pod});
        }
        t.nicBase = static_cast<int>(t.links.size());
        for (int r = 0; r < gpus; ++r) {
            const int leaf = leaf0 + t.leafOf(r);
            t.links.push_back({r, leaf, LinkRole::NicOut, nic.bwGBs * nic.p2pEfficiency, nic.bwGBs});
            t.links.push_back({leaf, r, LinkRole::NicIn, nic.bwGBs * nic.p2pEfficiency, nic.bwGBs});
        }
        if (t.kind != TopologyKind::SingleSwitch && t.pods > 1) {
            const int spine0 = static_cast<int>(t.devices.size());
            const int spines = t.kind == TopologyKind::RailsOnly ? t.rails : 1;
            for (int s = 0; s < spines; ++s) t.devices.push_back({DeviceKind::Spine, -1, s});
            t.leafBase = static_cast<int>(t.links.size());
            const double up = t.nodesPerLeaf * nic.bwGBs / c.topology->oversubscription;
            for (int leaf = 0; leaf < t.rails * t.pods; ++leaf) {
                const int spine = spine0 + (spines == 1 ? 0 : leaf / t.pods);
                t.links.push_back({leaf0 + leaf, spine, LinkRole::LeafUp, up * nic.p2pEfficiency, up});
                t.links.push_back({spine, leaf0 + leaf, LinkRole::LeafDown, up * nic.p2pEfficiency, up});
            }
        }
    }
    return t;
}

}  // namespace moe::cluster
