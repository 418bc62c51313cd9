#pragma once
// The --cluster option shared by `moe collective` and `moe calibrate`: required, resolved against
// the catalog, and a usage error naming the known clusters when missing or unknown.
#include <string>

#include "cli_command.h"
#include "moe/cluster/catalog.h"

namespace moe::cli {

inline moe::cluster::ResolvedCluster requireCluster(const moe::cluster::Catalog& catalog, const ParsedArgs& a) {
    const auto name = a.value("cluster");
    if (!name) throw UsageError("--cluster NAME is required; known clusters: " + joinList(catalog.clusterNames()));
    auto rc = catalog.resolve(*name, "--cluster");
    if (!rc) throw UsageError(rc.errors()[0].message);
    return std::move(rc.value());
}

}  // namespace moe::cli
