#include <algorithm>
#include <iostream>
#include <sstream>

#include "cli_command.h"
#include "moe/spec/schedule.h"

namespace {

namespace spec = moe::spec;

int run(const moe::cli::ParsedArgs& a) {
    const std::string kindName = a.positional()[0];
    auto kind = spec::parseEnum<spec::ScheduleKind>(kindName);
    if (!kind) {
        std::string list;
        for (auto n : spec::allNames<spec::ScheduleKind>()) list += (list.empty() ? "" : ", ") + std::string(n);
        throw moe::cli::UsageError("unknown schedule '" + kindName + "'; choose one of " + list);
    }
    if (!a.value("layers")) throw moe::cli::UsageError("--layers L is required");
    spec::Schedule s;
    s.kind = *kind;
    const int layers = a.intValue("layers", 1, 1, 100000);
    if (*kind == spec::ScheduleKind::Explicit) {
        auto v = a.value("values");
        if (!v) throw moe::cli::UsageError("an explicit schedule needs --values 8,8,4,...");
        std::stringstream ss(*v);
        std::string item;
        while (std::getline(ss, item, ',')) {
            try {
                size_t used = 0;
                const int x = std::stoi(item, &used);
                if (used != item.size()) throw std::invalid_argument(item);
                s.values.push_back(x);
            } catch (...) {
                throw moe::cli::UsageError("--values: '" + item + "' is not a whole number");
            }
        }
    } else {
        if (!a.value("max")) throw moe::cli::UsageError("--max B is required");
        s.min = a.intValue("min", 1, 1, 1 << 16);
        s.max = a.intValue("max", 1, 1, 1 << 16);
        s.period = a.intValue("period", 4, 2, 100000);
    }
    if (auto e = spec::checkSchedule(s, layers); !e.empty()) throw moe::cli::UsageError(e);
    const auto counts = s.counts(layers);
    long long sum = 0;
    for (int c : counts) sum += c;
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["kind"] = kindName;
        j["layers"] = layers;
        j["counts"] = counts;
        j["sum"] = sum;
        moe::cli::printJson(j);
        return 0;
    }
    const int peak = *std::max_element(counts.begin(), counts.end());
    std::cout << kindName << " schedule, " << layers << (layers == 1 ? " layer" : " layers") << " (sum " << sum << ")\n";
    // A pyramid climbs to max in the middle layer; with an even count there is no middle one.
    if (peak < s.max && (s.kind == spec::ScheduleKind::Pyramid || s.kind == spec::ScheduleKind::Wave))
        std::cout << "  note: the largest count is " << peak << ", not max " << s.max << ": with " << layers
                  << (layers == 1 ? " layer" : " layers") << " no layer falls on the peak of the " << kindName << "\n";
    for (int i = 0; i < layers; ++i) {
        const int c = counts[static_cast<size_t>(i)];
        const int bar = std::max(1, c * 40 / std::max(peak, 1));
        std::printf("  layer %3d  %5d  %s\n", i, c, std::string(static_cast<size_t>(bar), '#').c_str());
    }
    // One line: a compact bar chart, one glyph per layer.
    static const char* glyphs[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    const int lo = *std::min_element(counts.begin(), counts.end());
    std::string line;
    for (int c : counts) line += glyphs[peak == lo ? 7 : (c - lo) * 7 / (peak - lo)];
    std::cout << "  " << line << "\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "schedule", "per-layer expert (or k) counts of a capacity schedule", "KIND",
    "KIND is uniform, descending, ascending, pyramid, hourglass, wave or explicit.\n"
    "The formulas are in the README.",
    {{"layers", "L", "number of MoE layers (required)"},
     {"min", "A", "smallest count (default 1)"},
     {"max", "B", "largest count (required, except explicit)"},
     {"period", "P", "wave: layers per cycle (default 4)"},
     {"values", "LIST", "explicit: comma-separated counts"},
     {"json", "", "print JSON"}},
    1, 1, run});

}  // namespace
