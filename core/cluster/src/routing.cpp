#include "moe/cluster/routing.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

#include "moe/telemetry/run_store.h"

namespace moe::cluster {
namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// SplitMix64: a fixed, platform-independent permutation per layer.
std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace

spec::Result<RoutingChoice> parseRouting(const std::string& text, const std::string& where) {
    RoutingChoice r;
    if (text == "uniform") return r;
    if (text.rfind("zipf:", 0) == 0) {
        const std::string num = text.substr(5);
        char* end = nullptr;
        const double s = std::strtod(num.c_str(), &end);
        if (num.empty() || end == num.c_str() || *end != '\0' || !(s > 0 && s <= 10))
            return spec::Diagnostics{{where, "\"" + text + "\": the zipf exponent must be a number in (0, 10], e.g. zipf:1.2"}};
        r.kind = RoutingKind::Zipf;
        r.zipfS = s;
        return r;
    }
    if (endsWith(text, ".sqlite") || endsWith(text, ".sqlite3") || endsWith(text, ".db")) {
        r.kind = RoutingKind::Recorded;
        r.path = text;
        return r;
    }
    return spec::Diagnostics{{where, "\"" + text + "\" is not a routing; expected uniform, zipf:S (e.g. zipf:1.2) or a run store file (.sqlite)"}};
}

std::vector<double> distinctInclusion(const std::vector<double>& weights, int k) {
    const size_t n = weights.size();
    std::vector<double> pi(n, 0.0);
    if (n == 0 || k <= 0) return pi;
    if (static_cast<size_t>(k) >= n) {
        std::fill(pi.begin(), pi.end(), 1.0);
        return pi;
    }
    // Experts whose proportional share would reach 1 are taken by every token (capped); the rest
    // share the remaining k - capped picks in proportion to their weight. Capping one expert can
    // push the next over 1, so repeat until none does (at most k rounds).
    std::vector<bool> capped(n, false);
    int ncap = 0;
    for (;;) {
        double free = 0;
        for (size_t i = 0; i < n; ++i)
            if (!capped[i]) free += std::max(0.0, weights[i]);
        const double c = free > 0 ? (k - ncap) / free : 0.0;
        bool changed = false;
        for (size_t i = 0; i < n; ++i) {
            if (capped[i]) continue;
            if (c * std::max(0.0, weights[i]) >= 1.0) {
                capped[i] = true;
                ++ncap;
                changed = true;
            }
        }
        if (!changed || ncap >= k) {
            for (size_t i = 0; i < n; ++i) pi[i] = capped[i] ? 1.0 : std::min(1.0, c * std::max(0.0, weights[i]));
            if (ncap >= k)
                for (size_t i = 0; i < n; ++i)
                    if (!capped[i]) pi[i] = 0.0;
            return pi;
        }
    }
}

std::vector<std::vector<double>> syntheticLoads(const RoutingChoice& r, int layers, int experts, int k) {
    std::vector<std::vector<double>> out(static_cast<size_t>(layers), std::vector<double>(static_cast<size_t>(experts), 1.0 / experts));
    if (r.kind != RoutingKind::Zipf) return out;
    k = std::clamp(k, 1, std::max(1, experts));
    std::vector<double> w(static_cast<size_t>(experts));
    for (int i = 0; i < experts; ++i) w[static_cast<size_t>(i)] = std::pow(i + 1.0, -r.zipfS);
    const std::vector<double> pi = distinctInclusion(w, k);
    for (int l = 0; l < layers; ++l) {
        std::vector<int> perm(static_cast<size_t>(experts));
        std::iota(perm.begin(), perm.end(), 0);
        std::uint64_t seed = 0x6d6f652d7a697066ull + static_cast<std::uint64_t>(l);
        for (int i = experts - 1; i > 0; --i) std::swap(perm[static_cast<size_t>(i)], perm[splitmix(seed) % static_cast<std::uint64_t>(i + 1)]);
        for (int i = 0; i < experts; ++i) out[static_cast<size_t>(l)][static_cast<size_t>(perm[static_cast<size_t>(i)])] = pi[static_cast<size_t>(i)] / k;
    }
    return out;
}

std::vector<int> sampleDistinct(const std::vector<double>& inclusion, double u) {
    // Systematic sampling: lay the inclusion probabilities end to end on [0, k) and take the
    // points u, u+1, ..., u+k-1. Each expert's interval is at most 1 long, so no point pair
    // falls in the same interval: k distinct experts, each with its inclusion probability.
    std::vector<int> picks;
    double edge = 0, next = u;
    for (size_t i = 0; i < inclusion.size(); ++i) {
        edge += inclusion[i];
        while (next < edge - 1e-12) {
            if (picks.empty() || picks.back() != static_cast<int>(i)) picks.push_back(static_cast<int>(i));
            next += 1.0;
        }
    }
    return picks;
}

spec::Result<RecordedRouting> loadRecordedRouting(const std::string& path, const std::string& where) {
    auto reader = telemetry::RunReader::open(path);
    if (!reader) {
        spec::Diagnostics errs;
        for (const auto& e : reader.errors()) errs.push_back({where, "cannot read run store " + path + ": " + e.message});
        return errs;
    }
    const auto latest = reader.value()->latest();
    if (!latest) return spec::Diagnostics{{where, "run store " + path + " holds no routing snapshot yet; train some steps first"}};
    RecordedRouting r;
    r.blocks = latest->blocks;
    r.description = "run " + reader.value()->info().runId + ", step " + std::to_string(latest->step);
    return r;
}

spec::Result<std::vector<std::vector<double>>> rescaleRecorded(const std::vector<telemetry::BlockSnapshot>& blocks, int layers,
                                                               int experts, const std::string& where) {
    const int nb = static_cast<int>(blocks.size());
    if (nb == 0) return spec::Diagnostics{{where, "the run has no recorded MoE blocks to take routing from"}};
    if (layers != nb && (layers < nb || layers % nb != 0))
        return spec::Diagnostics{{where, "the run recorded " + std::to_string(nb) + " MoE block(s) but the model has " + std::to_string(layers) +
                                             " MoE layers; they map when the model's MoE layer count is a multiple of " + std::to_string(nb) +
                                             " (" + std::to_string(nb) + ", " + std::to_string(2 * nb) + ", " + std::to_string(3 * nb) + ", ...)"}};
    std::vector<std::vector<double>> perBlock;
    for (int b = 0; b < nb; ++b) {
        const auto& s = blocks[static_cast<size_t>(b)];
        const int ffn = s.ffnExperts > 0 ? s.ffnExperts : s.experts;
        if (ffn <= 0 || static_cast<int>(s.tokensPerExpert.size()) < ffn)
            return spec::Diagnostics{{where, "recorded block " + std::to_string(b) + " (model block " + std::to_string(s.block) +
                                                 ") has no per-expert loads for its " + std::to_string(ffn) + " experts"}};
        double total = 0;
        for (int e = 0; e < ffn; ++e) total += std::max(0.0, s.tokensPerExpert[static_cast<size_t>(e)]);
        if (!(total > 0))
            return spec::Diagnostics{{where, "recorded block " + std::to_string(b) + " (model block " + std::to_string(s.block) +
                                                 ") routed no tokens to its FFN experts; record more steps first"}};
        // Integrate the piecewise-constant density over [0, 1) into `experts` equal bins.
        std::vector<double> bins(static_cast<size_t>(experts), 0.0);
        for (int e = 0; e < ffn; ++e) {
            const double share = std::max(0.0, s.tokensPerExpert[static_cast<size_t>(e)]) / total;
            const double lo = double(e) / ffn, hi = double(e + 1) / ffn;
            const int b0 = static_cast<int>(std::floor(lo * experts)), b1 = std::min(experts - 1, static_cast<int>(std::ceil(hi * experts)) - 1);
            for (int j = std::max(0, b0); j <= b1; ++j) {
                const double overlap = std::min(hi, double(j + 1) / experts) - std::max(lo, double(j) / experts);
                if (overlap > 0) bins[static_cast<size_t>(j)] += share * overlap / (hi - lo);
            }
        }
        const double sum = std::accumulate(bins.begin(), bins.end(), 0.0);
        for (double& x : bins) x /= sum;
        perBlock.push_back(std::move(bins));
    }
    std::vector<std::vector<double>> out;
    const int repeat = layers / nb;
    for (int l = 0; l < layers; ++l) out.push_back(perBlock[static_cast<size_t>(l / repeat)]);
    return out;
}

}  // namespace moe::cluster
