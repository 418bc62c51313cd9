// The hardware catalog: its documents as a user edits them and the overlays `moe calibrate` writes
// (or a user hand-edits), then what every cluster command does with the result: resolve each
// cluster and price a collective on it.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "harness.h"
#include "moe/cluster/catalog.h"
#include "moe/cluster/collective.h"

namespace moe::fuzz {

const std::map<std::string, std::string>& catalogDocuments() {
    static const std::map<std::string, std::string> docs = [] {
        const std::string dir = cluster::locateCatalogDir();
        if (dir.empty()) throw HarnessFailure("the shipped catalog folder was not found");
        std::map<std::string, std::string> m;
        for (const auto& e : std::filesystem::directory_iterator(dir)) {
            if (e.path().extension() != ".json") continue;
            std::ifstream in(e.path(), std::ios::binary);
            std::ostringstream s;
            s << in.rdbuf();
            m[e.path().filename().string()] = s.str();
        }
        return m;
    }();
    return docs;
}

const cluster::Catalog& shippedCatalog() {
    static const cluster::Catalog c = [] {
        auto r = cluster::Catalog::parse(catalogDocuments(), "shipped catalog");
        if (!r.ok()) throw HarnessFailure("the shipped catalog does not load: " + r.message());
        return r.value();
    }();
    return c;
}

std::string catalog(std::string_view input) {
    auto docs = catalogDocuments();
    spec::Result<cluster::Catalog> loaded = spec::Diagnostics{};
    if (input.size() >= 2 && input[0] == kCatalogDocumentMark && input[1] >= '0' && input[1] <= '9') {
        auto it = docs.begin();
        std::advance(it, (input[1] - '0') % static_cast<int>(docs.size()));
        it->second = std::string(input.substr(2));
        loaded = cluster::Catalog::parse(docs, "fuzz catalog");
    } else {
        loaded = cluster::Catalog::parse(docs, "shipped catalog", {{"overlay.json", std::string(input)}});
    }
    if (!loaded.ok()) return loaded.message();
    const cluster::Catalog& cat = loaded.value();
    int priced = 0;
    for (const auto& name : cat.clusterNames()) {
        auto rc = cat.resolve(name, "fuzz");
        if (!rc.ok()) throw HarnessFailure("catalog cluster " + name + " does not resolve: " + rc.message());
        const int ranks = std::min(rc->maxGpus(), 64);
        if (ranks < 2 || !rc->checkGpuCount(ranks).empty()) continue;
        for (auto op : {cluster::CollectiveOp::AllReduce, cluster::CollectiveOp::AllToAll})
            if (cluster::estimateCollective(rc.value(), nullptr, op, 1 << 20, ranks).ok()) ++priced;
    }
    return "ok: " + std::to_string(cat.clusters().size()) + " clusters, " + std::to_string(priced) + " collectives priced";
}

}  // namespace moe::fuzz
