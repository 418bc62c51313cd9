// nccl-tests / rccl-tests logs: the parser, with either group of columns, and the descriptive fit
// `moe calibrate` makes of every table it finds. (The fit of the catalog's model is left out: at
// about 0.1 s per log under the sanitizers it would leave the parser a few executions a second.)
#include <cmath>
#include <string>
#include <vector>

#include "harness.h"
#include "moe/cluster/calibrate.h"

namespace moe::fuzz {

std::string ncclLog(std::string_view input) {
    const std::string text(input);
    (void)cluster::parseNcclTestsTables(text, "log.txt", true);
    auto tables = cluster::parseNcclTestsTables(text, "log.txt", false);
    if (!tables.ok()) return tables.message();
    std::size_t points = 0;
    for (const auto& t : tables.value()) {
        std::vector<double> bytes, times;
        for (const auto& p : t.points) {
            if (!std::isfinite(p.bytes) || !std::isfinite(p.timeUs) || p.bytes < 0 || p.timeUs <= 0)
                throw HarnessFailure("line " + std::to_string(p.line) + ": a size or time the parser should have refused");
            bytes.push_back(p.bytes);
            times.push_back(p.timeUs);
        }
        if (bytes.size() >= 2) (void)cluster::fitRelative(bytes, times);
        points += t.points.size();
    }
    return "ok: " + std::to_string(tables->size()) + " tables, " + std::to_string(points) + " sizes";
}

}  // namespace moe::fuzz
