#pragma once
// The --cluster option shared by `moe collective` and `moe calibrate`: required, resolved against
// the catalog, and a usage error naming the known clusters when missing or unknown.
#include <iostream>
#include <optional>
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

// The project and the catalog a costing command works on (`--catalog-overlay` applied); errors
// and the project's load notes are printed, and nothing is returned on an error.
struct ProjectAndCatalog {
    moe::spec::Project project;
    moe::cluster::Catalog catalog;
};
inline std::optional<ProjectAndCatalog> loadProjectAndCatalog(const ParsedArgs& a, const std::string& path) {
    auto project = loadProjectFile(path);
    if (!project) return std::nullopt;
    auto cat = loadCatalog(a);
    if (!cat) {
        std::cerr << cat.message() << "\n";
        return std::nullopt;
    }
    return ProjectAndCatalog{std::move(*project), std::move(cat.value())};
}

inline moe::cluster::ResolvedCluster requireCluster(const moe::cluster::Catalog& catalog, const ParsedArgs& a) {
    const auto name = a.value("cluster");
    if (!name) throw UsageError("--cluster NAME is required; known clusters: " + joinList(catalog.clusterNames()));
    auto rc = catalog.resolve(*name, "--cluster");
    if (!rc) throw UsageError(rc.errors()[0].message);
    return std::move(rc.value());
}

}  // namespace moe::cli
