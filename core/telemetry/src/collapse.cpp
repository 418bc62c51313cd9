#include "moe/telemetry/collapse.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>

namespace moe::telemetry {
namespace {

// One decimal, or two significant digits below 1% (with 256 experts a "dead" expert is one under
// 0.039% of the load, which one decimal would print as 0.0%).
std::string pct(double v) {
    char buf[32];
    const double p = 100.0 * v;
    if (p > 0 && p < 1) std::snprintf(buf, sizeof buf, "%.2g%%", p);
    else std::snprintf(buf, sizeof buf, "%.1f%%", p);
    return buf;
}

std::string num(double v, int decimals = 2) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string expertList(const std::vector<int>& ids) {
    std::string out;
    const size_t shown = std::min<size_t>(ids.size(), 8);
    for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
    if (ids.size() > shown) out += ", ...";
    return out;
}

const char* kBalanceFix =
    "Raise the load-balancing coefficient (losses.aux, e.g. to 0.01-0.05), add router noise (router.noise 0.5-1.0) "
    "so unused experts still get tried, or switch the router to sigmoid_bias (balances with a per-expert bias, no aux "
    "loss) or expert_choice (every expert takes the same number of tokens).";

}  // namespace

LoadFigures computeLoadFigures(const BlockSnapshot& b) {
    LoadFigures f;
    f.experts = b.experts;
    f.share = b.loadShare();
    f.share.resize(static_cast<size_t>(std::max(b.experts, 0)), 0.0);
    const double E = static_cast<double>(std::max(b.experts, 1));
    const double kept = std::accumulate(b.tokensPerExpert.begin(), b.tokensPerExpert.end(), 0.0);
    if (kept > 0) {
        const double deadBelow = 0.1 / E;
        double mean = 1.0 / E, var = 0, h = 0;
        for (double s : f.share) {
            if (s < deadBelow) ++f.deadExperts;
            f.maxShare = std::max(f.maxShare, s);
            var += (s - mean) * (s - mean);
            if (s > 0) h -= s * std::log(s);
        }
        var /= E;
        f.cv = std::sqrt(var) / mean;
        f.entropy = h;
        f.normalizedEntropy = b.experts > 1 ? h / std::log(E) : 1.0;
        f.effectiveExperts = std::exp(h);
    }
    const double total = kept + static_cast<double>(b.dropped);
    f.dropRate = total > 0 ? static_cast<double>(b.dropped) / total : 0.0;
    const int F = b.ffnExperts;
    if (F >= 2 && b.similarity.size() == static_cast<size_t>(F) * static_cast<size_t>(F)) {
        double sum = 0;
        for (int i = 0; i < F; ++i)
            for (int j = 0; j < F; ++j)
                if (i != j) sum += b.similarity[static_cast<size_t>(i) * static_cast<size_t>(F) + static_cast<size_t>(j)];
        f.meanSimilarity = sum / (static_cast<double>(F) * (F - 1));
    }
    f.routerGradNorm = b.routerGradNorm;
    f.assignments = b.assignments();
    f.noiseCv = evenRouterCv(kept, b.experts);
    return f;
}

std::vector<Alert> detectCollapse(const BlockSnapshot& b, std::int64_t step, const DetectorThresholds& t) {
    std::vector<Alert> out;
    if (b.experts <= 0) return out;
    const LoadFigures f = computeLoadFigures(b);
    const double E = b.experts;
    const std::string where = "In block " + std::to_string(b.block) + ", ";
    auto add = [&](AlertKind kind, Severity sev, double value, std::string title, std::string explanation, std::string fix) {
        out.push_back(Alert{step, b.block, kind, sev, value, std::move(title), std::move(explanation), std::move(fix)});
    };
    const double kept = std::accumulate(b.tokensPerExpert.begin(), b.tokensPerExpert.end(), 0.0);
    if (kept > 0 && b.experts > 1) {
        const double deadBelow = t.deadShareFraction / E;
        std::vector<int> dead;
        for (int e = 0; e < b.experts; ++e)
            if (f.share[static_cast<size_t>(e)] < deadBelow) dead.push_back(e);
        if (!dead.empty()) {
            const bool half = dead.size() * 2 >= static_cast<size_t>(b.experts);
            add(AlertKind::DeadExperts, half ? Severity::Critical : Severity::Warning, static_cast<double>(dead.size()),
                std::to_string(dead.size()) + " of " + std::to_string(b.experts) + " experts are dead",
                where + "expert" + (dead.size() == 1 ? " " : "s ") + expertList(dead) + (dead.size() == 1 ? " gets" : " get") +
                    " almost no tokens (under " + pct(deadBelow) + " of the load each). The router has learned to avoid " +
                    (dead.size() == 1 ? "it" : "them") + ", so " + (dead.size() == 1 ? "it stops" : "they stop") +
                    " learning and " + (dead.size() == 1 ? "its" : "their") + " parameters are wasted: the layer behaves like a smaller one.",
                kBalanceFix);
        }
        const double shareLimit = std::min(0.9, std::max(0.5, t.maxShareFactor / E));
        if (f.maxShare > shareLimit || f.cv > t.maxCv) {
            const int top = static_cast<int>(std::max_element(f.share.begin(), f.share.end()) - f.share.begin());
            add(AlertKind::LoadImbalance, f.maxShare > std::max(shareLimit, 0.75) ? Severity::Critical : Severity::Warning, f.maxShare,
                "expert " + std::to_string(top) + " takes " + pct(f.maxShare) + " of the tokens",
                where + "the load is uneven: the busiest expert gets " + pct(f.maxShare) + " of the assignments where a balanced layer gives each " +
                    pct(1.0 / E) + " (coefficient of variation " + num(f.cv) + "). On a cluster the busiest expert sets the pace, "
                    "and an overloaded expert drops tokens when capacity is limited.",
                kBalanceFix);
        }
        if (f.normalizedEntropy < t.minNormalizedEntropy) {
            add(AlertKind::LowLoadEntropy, f.normalizedEntropy < t.minNormalizedEntropy / 2 ? Severity::Critical : Severity::Warning,
                f.effectiveExperts, "only " + num(f.effectiveExperts, 1) + " effective experts of " + std::to_string(b.experts),
                where + "the load entropy is " + pct(f.normalizedEntropy) + " of its maximum, so the tokens behave as if spread over only " +
                    num(f.effectiveExperts, 1) + " equally used experts (exp of the entropy). The rest of the experts add cost but little capacity.",
                kBalanceFix);
        }
    }
    if (f.dropRate > t.dropWarning) {
        add(AlertKind::HighDropRate, f.dropRate > t.dropCritical ? Severity::Critical : Severity::Warning, f.dropRate,
            pct(f.dropRate) + " of assignments dropped",
            where + "capacity limits turned away " + std::to_string(b.dropped) + " token-expert assignments (" + pct(f.dropRate) +
                "). A dropped token skips the expert and rides the residual connection unchanged, so it learns nothing from this layer.",
            "Raise the capacity factor (capacity.factor, e.g. 1.25 -> 2.0), make the layer dropless (capacity.dropless: true), or balance the "
            "load better (losses.aux, router noise, a sigmoid_bias router) so fewer experts overflow.");
    }
    if (f.meanSimilarity > t.similarity) {
        add(AlertKind::RepresentationCollapse, f.meanSimilarity > (1 + t.similarity) / 2 ? Severity::Critical : Severity::Warning,
            f.meanSimilarity, "experts compute nearly the same function",
            where + "the outputs of different experts on the same tokens have a mean cosine similarity of " + num(f.meanSimilarity) +
                ". The experts have not specialised: the layer costs E experts but acts like one.",
            "Lower the learning rate or add router noise so experts see different tokens early; try expert_choice routing or fewer, "
            "wider experts; check that the data has structure to specialise on.");
    }
    if (f.routerGradNorm >= 0 && f.routerGradNorm < t.starvedGradNorm && b.tokens > 0) {
        add(AlertKind::RouterStarvation, Severity::Warning, f.routerGradNorm, "the router has stopped learning",
            where + "the router's weight gradient is " + num(f.routerGradNorm, 9) +
                ", essentially zero: routing decisions are frozen, whatever the experts learn. This happens when every token gets a "
                "gate of exactly 1 (k = 1 with renormalisation), when the logits saturate, or when no loss reaches the router.",
            "Give the router a signal: a non-zero aux loss (losses.aux), router noise, a lower temperature or a z-loss (losses.z) if the logits "
            "saturate; with k = 1 keep the raw gate probability.");
    }
    return out;
}

std::vector<Alert> detectCollapse(const RoutingSnapshot& s, const DetectorThresholds& t) {
    std::vector<Alert> out;
    for (const auto& b : s.blocks) {
        auto a = detectCollapse(b, s.step, t);
        out.insert(out.end(), a.begin(), a.end());
    }
    return out;
}

CollapseMonitor::CollapseMonitor(DetectorThresholds trip) : m_trip(trip), m_release(releaseOf(trip)) {}

DetectorThresholds CollapseMonitor::releaseOf(const DetectorThresholds& t) {
    DetectorThresholds r = t;
    r.deadShareFraction = t.deadShareFraction * 2;
    r.maxShareFactor = t.maxShareFactor * 0.8;
    r.maxCv = t.maxCv * 0.8;
    r.minNormalizedEntropy = std::min(0.99, t.minNormalizedEntropy * 1.1);
    r.dropWarning = t.dropWarning * 0.8;
    r.dropCritical = t.dropCritical * 0.8;
    r.similarity = t.similarity - 0.05;
    r.starvedGradNorm = t.starvedGradNorm * 2;
    return r;
}

std::vector<Alert> CollapseMonitor::update(const RoutingSnapshot& s) {
    std::vector<Alert> out;
    std::set<std::pair<int, AlertKind>> active;
    for (const auto& b : s.blocks) {
        const auto tripped = detectCollapse(b, s.step, m_trip);
        auto trips = [&](AlertKind k) {
            return std::any_of(tripped.begin(), tripped.end(), [&](const Alert& a) { return a.kind == k; });
        };
        // An alert that was on stays on while the release thresholds still see it; one that was
        // off needs the trip thresholds.
        for (const Alert& a : detectCollapse(b, s.step, m_release)) {
            const auto key = std::make_pair(b.block, a.kind);
            if (!trips(a.kind) && !m_active.count(key)) continue;
            const auto strict = std::find_if(tripped.begin(), tripped.end(), [&](const Alert& t) { return t.kind == a.kind; });
            out.push_back(strict != tripped.end() ? *strict : a);
            active.insert(key);
        }
    }
    m_active = std::move(active);
    return out;
}

}  // namespace moe::telemetry
