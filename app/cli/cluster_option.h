#pragma once
// The --cluster option shared by `moe collective` and `moe calibrate`: required, resolved against
// the catalog, and a usage error naming the known clusters when missing or unknown.
#include <string>

#include "cli_command.h"
#include "moe/cluster/catalog.h"

namespace moe::cli {

// --catalog-overlay FILE[,FILE...]: catalog overlays (e.g. from `moe calibrate --overlay`) on top
// of the catalog and the user catalog folders, through the one loading function the studio uses.
inline const OptionSpec kCatalogOverlayOption{"catalog-overlay", "FILE[,FILE]",
                                              "apply catalog overlay file(s) (as written by 'moe calibrate --overlay')"};

inline moe::spec::Result<moe::cluster::Catalog> loadCatalog(const ParsedArgs& a) {
    std::vector<std::string> files;
    if (auto v = a.value("catalog-overlay")) {
        size_t from = 0;
        while (from <= v->size()) {
            size_t to = v->find(',', from);
            if (to == std::string::npos) to = v->size();
            if (to > from) files.push_back(v->substr(from, to - from));
            from = to + 1;
        }
        if (files.empty()) throw UsageError("--catalog-overlay: no file given");
    }
    return moe::cluster::Catalog::loadDefault(files);
}

inline moe::cluster::ResolvedCluster requireCluster(const moe::cluster::Catalog& catalog, const ParsedArgs& a) {
    const auto name = a.value("cluster");
    if (!name) throw UsageError("--cluster NAME is required; known clusters: " + joinList(catalog.clusterNames()));
    auto rc = catalog.resolve(*name, "--cluster");
    if (!rc) throw UsageError(rc.errors()[0].message);
    return std::move(rc.value());
}

}  // namespace moe::cli
