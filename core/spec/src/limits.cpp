#include "moe/spec/limits.h"

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

namespace moe::spec {

std::string rangeText(IntRange r) { return " (valid: " + std::to_string(r.lo) + " to " + std::to_string(r.hi) + ")"; }

std::string rangeText(RealRange r) {
    std::ostringstream s;
    s << " (valid: " << r.lo << " to " << r.hi << ")";
    return s.str();
}

std::string outOfRange(const std::string& value, IntRange r) { return value + " is out of range" + rangeText(r); }
std::string outOfRange(const std::string& value, RealRange r) { return value + " is out of range" + rangeText(r); }

std::string numberText(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return nlohmann::json(v).dump();
}

std::string tooManyBlocksText(std::size_t blocks) {
    return std::to_string(blocks) + " blocks; a model has at most " + std::to_string(limits::kMaxLayers) + " layers";
}

std::string tooManyLayersText(std::int64_t layers) {
    return "the blocks make " + std::to_string(layers) + " layers (groups counted with their repeats); a model has at most " +
           std::to_string(limits::kMaxLayers);
}

}  // namespace moe::spec
