#pragma once
// The shipped catalog's files as text, for tests that parse the catalog with overlays or edits.
#include <fstream>
#include <map>
#include <sstream>
#include <string>

inline std::map<std::string, std::string> shippedCatalogFiles() {
    std::map<std::string, std::string> files;
    for (const char* f : {"gpus.json", "links.json", "systems.json", "topologies.json", "clusters.json"}) {
        std::ifstream in(std::string(MOE_SOURCE_DIR) + "/core/cluster/catalog/" + f);
        std::ostringstream s;
        s << in.rdbuf();
        files[f] = s.str();
    }
    return files;
}
