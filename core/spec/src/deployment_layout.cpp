// Names of the deployment's layout fields and their checks (project reader and validation share them).
#include "moe/spec/project.h"

namespace moe::spec {

const std::vector<std::string>& recomputeNames() {
    static const std::vector<std::string> v{"none", "selective", "full"};
    return v;
}

const std::vector<std::string>& routingMapNames() {
    static const std::vector<std::string> v{"tile", "interpolate"};
    return v;
}

}  // namespace moe::spec
