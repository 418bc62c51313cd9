#include "moe/cluster/layer_times.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "moe/cluster/collective.h"
#include "moe/cluster/topology.h"

namespace moe::cluster {

spec::Result<std::vector<std::vector<double>>> layerTrafficMatrix(const std::vector<telemetry::LayerTime>& ranks) {
    if (ranks.empty()) return spec::Diagnostics{{"layer_times", "no rank recorded the block"}};
    const int block = ranks.front().block;
    const std::string where = "layer_times (block " + std::to_string(block) + ")";
    int n = 0;
    for (const auto& t : ranks) n = std::max({n, t.rank + 1, static_cast<int>(t.rowsTo.size())});
    if (n > kMaxFlowRanks)
        return spec::Diagnostics{{where, std::to_string(n) + " ranks; the flow model takes at most " + std::to_string(kMaxFlowRanks)}};
    std::vector<const telemetry::LayerTime*> byRank(static_cast<size_t>(n), nullptr);
    for (const auto& t : ranks) {
        if (t.block != block) return spec::Diagnostics{{where, "a record of block " + std::to_string(t.block) + " is mixed in"}};
        if (t.rank < 0) return spec::Diagnostics{{where, "rank " + std::to_string(t.rank) + " is negative"}};
        if (byRank[static_cast<size_t>(t.rank)]) return spec::Diagnostics{{where, "rank " + std::to_string(t.rank) + " has two records; sum them first"}};
        byRank[static_cast<size_t>(t.rank)] = &t;
    }
    std::vector<std::vector<double>> bytes(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n), 0.0));
    for (int r = 0; r < n; ++r) {
        const telemetry::LayerTime* t = byRank[static_cast<size_t>(r)];
        const std::string at = where + ", rank " + std::to_string(r);
        if (!t) return spec::Diagnostics{{at, "no record: every rank of the group must record its traffic"}};
        if (t->steps <= 0) return spec::Diagnostics{{at, "measured no steps"}};
        if (t->bytesPerRow <= 0) return spec::Diagnostics{{at, "bytes per row = " + std::to_string(t->bytesPerRow) + "; expected a positive size"}};
        if (static_cast<int>(t->rowsTo.size()) != n)
            return spec::Diagnostics{{at, "rows sent to " + std::to_string(t->rowsTo.size()) + " ranks; the group has " + std::to_string(n)}};
        for (int j = 0; j < n; ++j) {
            const double rows = t->rowsTo[static_cast<size_t>(j)];
            if (!(rows >= 0) || !std::isfinite(rows))
                return spec::Diagnostics{{at, "rows to rank " + std::to_string(j) + " is not a finite count >= 0"}};
            bytes[static_cast<size_t>(r)][static_cast<size_t>(j)] = rows / t->steps * t->bytesPerRow;
        }
    }
    return bytes;
}

spec::Result<std::vector<LayerPrediction>> predictLayerTimes(const ResolvedCluster& c, const std::vector<telemetry::LayerTime>& times) {
    std::map<int, std::vector<telemetry::LayerTime>> blocks;
    for (auto& t : telemetry::sumLayerTimes(times)) blocks[t.block].push_back(std::move(t));
    if (blocks.empty()) return spec::Diagnostics{{"layer_times", "the run recorded no expert-parallel layer times"}};
    std::vector<LayerPrediction> out;
    for (const auto& [block, ranks] : blocks) {
        auto m = layerTrafficMatrix(ranks);
        if (!m) return m.errors();
        const auto& dispatch = m.value();
        const int n = static_cast<int>(dispatch.size());
        if (std::string e = c.checkGpuCount(n); !e.empty())
            return spec::Diagnostics{{"layer_times (block " + std::to_string(block) + ")", "the run's " + std::to_string(n) + " ranks on cluster " + c.cluster->name + ": " + e}};
        const Topology topo = buildTopology(c, n);
        std::vector<std::vector<double>> combine(dispatch.size(), std::vector<double>(dispatch.size(), 0.0));
        LayerPrediction p;
        p.block = block;
        p.ranks = n;
        for (size_t i = 0; i < dispatch.size(); ++i)
            for (size_t j = 0; j < dispatch.size(); ++j) {
                combine[j][i] = dispatch[i][j];
                if (i != j) p.dispatchBytes += dispatch[i][j];
            }
        auto d = estimateAllToAllV(c, topo, dispatch);
        if (!d) return d.errors();
        auto cb = estimateAllToAllV(c, topo, combine);
        if (!cb) return cb.errors();
        p.dispatchSeconds = d.value() * 1e-6;
        p.combineSeconds = cb.value() * 1e-6;
        p.predictedSeconds = 2 * (p.dispatchSeconds + p.combineSeconds);
        for (const auto& t : ranks) {
            const double perStep = t.alltoallSeconds / t.steps;
            if (perStep > p.measuredSeconds || p.steps == 0) {
                p.measuredSeconds = perStep;
                p.steps = t.steps;
                p.slowestRank = t.rank;
            }
        }
        out.push_back(p);
    }
    return out;
}

}  // namespace moe::cluster
