#include "moe/cluster/calibrate.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace moe::cluster {
namespace {

std::vector<std::string> split(const std::string& line) {
    std::istringstream s(line);
    std::vector<std::string> out;
    std::string w;
    while (s >> w) out.push_back(w);
    return out;
}

bool toDouble(const std::string& s, double& v) {
    char* end = nullptr;
    v = std::strtod(s.c_str(), &end);
    return end != s.c_str() && *end == '\0' && std::isfinite(v);
}

double sq(double x) { return x * x; }

}  // namespace

spec::Result<MeasuredTable> parseNcclTests(const std::string& text, const std::string& fileName, bool inPlace) {
    MeasuredTable t;
    spec::Diagnostics errs;
    std::istringstream in(text);
    std::string line;
    int ln = 0;
    while (std::getline(in, line)) {
        ++ln;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto w = split(line);
        if (w.empty()) continue;
        if (w[0][0] == '#') {
            // "#  Rank  0 Group  0 Pid 1234 on host device  0 [0x..] NVIDIA H100 80GB HBM3"
            if (w.size() >= 3 && (w[0] == "#" ? w[1] : w[0].substr(1)) == "Rank") ++t.ranks;
            continue;
        }
        // Data rows start with the size; the trailer ("Out of bounds values", "Avg bus bandwidth") starts with '#'.
        double size = 0;
        if (!toDouble(w[0], size)) continue;  // stray text lines (warnings) are not rows
        // size count type redop root | time algbw busbw #wrong | time algbw busbw #wrong
        if (w.size() < 9) {
            errs.push_back({"", "a data row needs size, count, type, redop, root, time, algbw, busbw and #wrong (found " +
                                    std::to_string(w.size()) + " columns)", ln, 1, fileName});
            continue;
        }
        const size_t base = inPlace ? 9 : 5;
        if (inPlace && w.size() < 13) {
            errs.push_back({"", "no in-place columns on this row (13 columns expected)", ln, 1, fileName});
            continue;
        }
        MeasuredPoint p;
        p.bytes = size;
        double count = 0;
        toDouble(w[1], count);
        p.count = static_cast<long long>(count);
        p.type = w[2];
        p.line = ln;
        if (!toDouble(w[base], p.timeUs) || !toDouble(w[base + 1], p.algbwGBs) || !toDouble(w[base + 2], p.busbwGBs)) {
            errs.push_back({"", "time, algbw and busbw must be numbers (\"" + w[base] + "\", \"" + w[base + 1] + "\", \"" + w[base + 2] + "\")", ln, 1,
                            fileName});
            continue;
        }
        if (!(p.bytes > 0) || !(p.timeUs > 0)) {
            errs.push_back({"", "size and time must be positive", ln, 1, fileName});
            continue;
        }
        t.points.push_back(p);
    }
    if (!errs.empty()) return errs;
    if (t.points.empty())
        return spec::Diagnostics{{"", "no data rows found; expected nccl-tests/rccl-tests output (size count type redop root time algbw busbw #wrong ...)",
                                  0, 0, fileName}};
    std::sort(t.points.begin(), t.points.end(), [](const MeasuredPoint& a, const MeasuredPoint& b) { return a.bytes < b.bytes; });
    return t;
}

std::pair<double, double> fitRelative(const std::vector<double>& x, const std::vector<double>& t) {
    // minimise sum ((a + b x - t) / t)^2: normal equations with weights 1/t^2.
    double s00 = 0, s01 = 0, s11 = 0, r0 = 0, r1 = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double w = 1.0 / sq(t[i]);
        s00 += w;
        s01 += w * x[i];
        s11 += w * x[i] * x[i];
        r0 += w * t[i];
        r1 += w * x[i] * t[i];
    }
    const double det = s00 * s11 - s01 * s01;
    if (x.size() < 2 || std::abs(det) < 1e-300 * std::max(1.0, s00 * s11)) {
        // One point (or all at one size): latency only.
        return {r0 / s00, 0.0};
    }
    double a = (r0 * s11 - r1 * s01) / det;
    double b = (s00 * r1 - s01 * r0) / det;
    if (b < 0) {  // time cannot fall with size: constant fit
        b = 0;
        a = r0 / s00;
    }
    if (a < 0) {  // negative latency: fit through the origin
        a = 0;
        b = r1 / s11;
    }
    return {a, b};
}

spec::Result<Calibration> calibrate(const MeasuredTable& table, const ResolvedCluster& rc, CollectiveOp op, int n) {
    if (n < 2) return spec::Diagnostics{{"--gpus", "calibration needs the rank count of the measurement (2 or more)"}};
    if (std::string e = rc.checkGpuCount(n); !e.empty()) return spec::Diagnostics{{"--gpus", e}};
    Calibration c;
    c.op = op;
    c.ranks = n;
    const double factor = busBwFactor(op, n);
    std::vector<double> x, t;
    for (const auto& p : table.points) {
        x.push_back(p.bytes);
        t.push_back(p.timeUs);
    }
    auto sse = [&](size_t from, size_t to, std::pair<double, double> ab) {
        double e = 0;
        for (size_t i = from; i < to; ++i) e += sq((ab.first + ab.second * x[i] - t[i]) / t[i]);
        return e;
    };
    auto fitRange = [&](size_t from, size_t to) {
        return fitRelative(std::vector<double>(x.begin() + static_cast<long>(from), x.begin() + static_cast<long>(to)),
                           std::vector<double>(t.begin() + static_cast<long>(from), t.begin() + static_cast<long>(to)));
    };
    // One line, or two (small / large) split where the total relative error is least; the
    // model takes the cheaper line at each size, as the protocol choice does.
    const size_t m = x.size();
    auto whole = fitRange(0, m);
    double bestErr = sse(0, m, whole);
    size_t bestSplit = 0;
    std::pair<double, double> lo{}, hi = whole;
    for (size_t s = 2; s + 2 <= m; ++s) {
        auto a = fitRange(0, s), b = fitRange(s, m);
        double e = 0;
        for (size_t i = 0; i < m; ++i) e += sq((std::min(a.first + a.second * x[i], b.first + b.second * x[i]) - t[i]) / t[i]);
        if (e < bestErr * 0.999) {
            bestErr = e;
            bestSplit = s;
            lo = a;
            hi = b;
        }
    }
    auto regime = [&](const char* name, size_t from, size_t to, std::pair<double, double> ab) {
        Regime r;
        r.name = name;
        r.fromBytes = x[from];
        r.toBytes = x[to - 1];
        r.latencyUs = ab.first;
        r.busbwGBs = ab.second > 0 ? factor / ab.second * 1e-3 : 0.0;  // bytes/us -> GB/s
        r.points = static_cast<int>(to - from);
        return r;
    };
    if (bestSplit) {
        c.regimes.push_back(regime("small messages", 0, bestSplit, lo));
        c.regimes.push_back(regime("large messages", bestSplit, m, hi));
    } else c.regimes.push_back(regime("all sizes", 0, m, hi));

    // The limiting link for ring-like collectives: the scale-up fabric inside one node, the
    // NICs of a node when the group spans nodes and they are slower.
    const int g = std::min(n, rc.system->gpusPerNode);
    const int nodes = (n + g - 1) / g;
    const double suSpec = (rc.system->fabric == FabricKind::Mesh ? (g - 1) : 1) * rc.scaleUp->bwGBs;
    const double suEff = suSpec * rc.scaleUp->collectiveEfficiency;
    const double netSpec = g * rc.nic->bwGBs;
    const double netEff = netSpec * rc.nic->collectiveEfficiency;
    if (nodes > 1 && netEff < suEff) {
        c.link = rc.nic->name;
        c.linkSpecGBs = netSpec;
        c.catalogEfficiency = rc.nic->collectiveEfficiency;
    } else {
        c.link = rc.scaleUp->name;
        c.linkSpecGBs = suSpec;
        c.catalogEfficiency = rc.scaleUp->collectiveEfficiency;
    }
    c.fittedEfficiency = c.regimes.back().busbwGBs / c.linkSpecGBs;

    double sf = 0, sc = 0;
    for (size_t i = 0; i < m; ++i) {
        CalibrationPoint p;
        p.bytes = x[i];
        p.measuredUs = t[i];
        p.fittedUs = hi.first + hi.second * x[i];
        if (bestSplit) p.fittedUs = std::min(p.fittedUs, lo.first + lo.second * x[i]);
        auto est = estimateCollective(rc, nullptr, op, x[i], n);
        if (est) {
            p.catalogUs = est->timeUs;
            p.catalogAlgorithm = toString(est->algorithm);
            p.catalogProtocol = est->protocol;
        }
        p.fittedErrorPct = (p.fittedUs - t[i]) / t[i] * 100;
        p.catalogErrorPct = p.catalogUs > 0 ? (p.catalogUs - t[i]) / t[i] * 100 : 0;
        p.measuredBusbw = x[i] / t[i] * 1e-3 * factor;
        p.fittedBusbw = x[i] / p.fittedUs * 1e-3 * factor;
        p.catalogBusbw = p.catalogUs > 0 ? x[i] / p.catalogUs * 1e-3 * factor : 0;
        sf += sq(p.fittedErrorPct);
        sc += sq(p.catalogErrorPct);
        c.catalogMaxAbsPct = std::max(c.catalogMaxAbsPct, std::abs(p.catalogErrorPct));
        c.points.push_back(p);
    }
    c.fittedRmsPct = std::sqrt(sf / m);
    c.catalogRmsPct = std::sqrt(sc / m);
    return c;
}

}  // namespace moe::cluster
