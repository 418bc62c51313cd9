// Names of a project's text fields and their checks (project reader and validation share them).
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

const std::vector<std::string>& gradDtypeNames() {
    static const std::vector<std::string> v{"fp32", "bf16"};
    return v;
}

std::string notOneOfText(const std::string& value, const std::vector<std::string_view>& names, const std::string& is) {
    std::string list;
    for (size_t i = 0; i < names.size(); ++i) (list += i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") += names[i];
    return "\"" + value + "\" is not " + is + "; expected one of " + list;
}

std::string notOneOfText(const std::string& value, const std::vector<std::string>& names, const std::string& is) {
    return notOneOfText(value, std::vector<std::string_view>(names.begin(), names.end()), is);
}

std::string checkScenarioView(const std::string& view) {
    if (view.empty()) return {};
    std::string names;
    for (const char* v : kScenarioViews) {
        if (view == v) return {};
        names += std::string(names.empty() ? "" : ", ") + v;
    }
    return "unknown dashboard \"" + view + "\"; one of " + names;
}

}  // namespace moe::spec
