#include "moe/cluster/calibrate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

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

namespace {

bool isInteger(const std::string& s, long long& v) {
    if (s.empty()) return false;
    char* end = nullptr;
    v = std::strtoll(s.c_str(), &end, 10);
    return *end == '\0';
}

constexpr double kMaxBytes = 1e15;
constexpr double kMaxTimeUs = 1e12;
constexpr size_t kMaxRowErrors = 100;
constexpr size_t kMaxFitRows = 2048;

bool hasLetters(const std::string& s) {
    return std::any_of(s.begin(), s.end(), [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)) != 0; });
}

}  // namespace

spec::Result<std::vector<MeasuredTable>> parseNcclTestsTables(const std::string& text, const std::string& fileName, bool inPlace) {
    std::vector<MeasuredTable> tables;
    spec::Diagnostics errs;
    std::istringstream in(text);
    std::string line;
    int ln = 0;
    // What the lines before a table said about the run; carried into the next table unless a new
    // header replaces it.
    int maxRank = -1, nGpus = 0, processes = 0;
    std::string measuredOp;
    int measuredOpLine = 0;
    bool onlyInPlace = false, onlyOutOfPlace = false;
    MeasuredTable cur;
    auto flush = [&] {
        if (cur.points.empty()) return;
        std::sort(cur.points.begin(), cur.points.end(), [](const MeasuredPoint& x, const MeasuredPoint& y) { return x.bytes < y.bytes; });
        tables.push_back(cur);
        cur = MeasuredTable{};
    };
    auto startRun = [&] {  // a new run header after rows: its own rank list follows
        flush();
        maxRank = -1;
    };
    while (std::getline(in, line)) {
        ++ln;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto w = split(line);
        if (w.empty()) continue;
        // Comment lines, with or without their '#': strip it and read what they say.
        const bool comment = w[0][0] == '#';
        if (comment) {
            w[0].erase(0, w[0].find_first_not_of('#'));
            if (w[0].empty()) w.erase(w.begin());
            if (w.empty()) continue;
        }
        if (w[0] == "nThread") {
            if (!cur.points.empty()) startRun();
            for (size_t i = 0; i + 1 < w.size(); ++i)
                if (w[i] == "nGpus") {
                    long long g = 0;
                    if (isInteger(w[i + 1], g) && g > 0 && g < (1 << 20)) nGpus = static_cast<int>(g);
                }
            continue;
        }
        if (w[0] == "Rank" && w.size() >= 2) {
            long long r = 0;
            if (isInteger(w[1], r) && r >= 0 && r < (1 << 24)) {
                if (!cur.points.empty()) startRun();
                maxRank = std::max(maxRank, static_cast<int>(r));
            }
            continue;
        }
        if (std::find(w.begin(), w.end(), "size") != w.end() && std::find(w.begin(), w.end(), "count") != w.end()) {
            flush();  // the column header of a new table
            continue;
        }
        const bool oop = line.find("out-of-place") != std::string::npos, ip = line.find("in-place") != std::string::npos;
        if (oop || ip) {
            // "out-of-place in-place" above the header; one word alone: that group only.
            const bool ipWord = std::any_of(w.begin(), w.end(), [](const std::string& x) { return x == "in-place"; });
            onlyInPlace = !oop && ipWord;
            onlyOutOfPlace = oop && !ipWord;
            flush();
            continue;
        }
        // The collective: an nccl-tests binary (".../all_reduce_perf") or our own measuring header.
        for (size_t i = 0; i < w.size(); ++i) {
            std::string name;
            const std::string& x = w[i];
            if (x.size() > 5 && x.compare(x.size() - 5, 5, "_perf") == 0) name = x.substr(x.find_last_of('/') + 1, std::string::npos);
            if (!name.empty()) name.resize(name.size() - 5);
            else if (x == "collective" && i > 0 && w[i - 1] == "moe" && i + 2 < w.size() && w[i + 2].rfind("--measure", 0) == 0) name = w[i + 1];
            if (!name.empty() && name.size() <= 40) {
                measuredOp = name;
                measuredOpLine = ln;
                break;
            }
        }
        const bool launcher = line.find("mpirun") != std::string::npos || line.find("mpiexec") != std::string::npos;
        for (size_t i = 0; launcher && i + 1 < w.size(); ++i)
            if (w[i] == "-np" || w[i] == "-n") {
                long long np = 0;
                if (isInteger(w[i + 1], np) && np > 0) processes = static_cast<int>(np);
            }
        if (comment) continue;
        // Data rows: size count type ...; anything else (NCCL INFO lines, warnings, prose) is not a row.
        double size = 0;
        if (!toDouble(w[0], size)) {
            // "nan", "inf" or 1e999 in the size column of a row-shaped line: a damaged row, not prose.
            char* end = nullptr;
            std::strtod(w[0].c_str(), &end);
            if (end != w[0].c_str() && *end == '\0' && w.size() >= 9)
                errs.push_back({"", "the size \"" + w[0] + "\" is not a finite number of bytes", ln, 1, fileName});
            continue;
        }
        if (w.size() >= 2) {
            double cnt = 0;
            if (!toDouble(w[1], cnt)) continue;
        }
        if (w.size() >= 3 && !hasLetters(w[2])) continue;
        if (w.size() < 9) {
            errs.push_back({"", "a data row needs size, count, type, redop, root, time, algbw, busbw and #wrong (found " +
                                    std::to_string(w.size()) + " columns)", ln, 1, fileName});
            continue;
        }
        const bool two = w.size() >= 13;
        size_t base = 5;
        bool takesInPlace = false;
        if (inPlace) {
            if (two) base = 9, takesInPlace = true;
            else if (onlyInPlace) takesInPlace = true;
            else {
                errs.push_back({"", std::string("no in-place columns on this row (13 columns expected") +
                                        (onlyOutOfPlace ? "; the table prints only the out-of-place group)" : ")"), ln, 1, fileName});
                continue;
            }
        } else if (!two && onlyInPlace) takesInPlace = true;  // the only group printed
        MeasuredPoint p;
        p.bytes = size;
        double count = 0;
        toDouble(w[1], count);
        // A count is whole and never more than the bytes it fills; a damaged one must not reach the
        // conversion below (undefined beyond long long's range).
        if (!(count >= 0 && count <= kMaxBytes) || count != std::floor(count)) {
            errs.push_back({"", "the element count \"" + w[1] + "\" is not a whole number from 0 to 1e15", ln, 1, fileName});
            continue;
        }
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
        // Beyond these no collective was ever measured; such a row is damaged, and its square in the
        // fit's sums would overflow.
        if (p.bytes > kMaxBytes || p.timeUs > kMaxTimeUs) {
            errs.push_back({"", p.bytes > kMaxBytes ? "the size " + w[0] + " bytes is beyond any collective (at most 1e15 bytes, 1 PB)"
                                                    : "the time " + w[base] + " us is beyond any measurement (at most 1e12 us)",
                            ln, 1, fileName});
            continue;
        }
        if (cur.points.empty()) {
            cur.firstLine = ln;
            cur.gpusPerProcess = nGpus;
            cur.processes = processes;
            cur.ranks = maxRank >= 0 ? maxRank + 1 : (nGpus > 0 && processes > 0 ? nGpus * processes : 0);
            cur.inPlaceColumns = takesInPlace;
            cur.op = measuredOp;
            cur.opLine = measuredOpLine;
        }
        cur.points.push_back(p);
    }
    flush();
    if (errs.size() > kMaxRowErrors) {
        // Like a compiler's error limit: a file that is wrong everywhere needs the first few.
        const size_t more = errs.size() - kMaxRowErrors;
        errs.resize(kMaxRowErrors);
        errs.push_back({"", "... and " + std::to_string(more) + " more rows with errors", 0, 0, fileName});
    }
    if (!errs.empty()) return errs;
    if (tables.empty())
        return spec::Diagnostics{{"", "no data rows found; expected nccl-tests/rccl-tests output (size count type redop root time algbw busbw #wrong ...)",
                                  0, 0, fileName}};
    return tables;
}

spec::Result<MeasuredTable> parseNcclTests(const std::string& text, const std::string& fileName, bool inPlace) {
    auto t = parseNcclTestsTables(text, fileName, inPlace);
    if (!t) return t.errors();
    return t.value().front();
}

namespace {

// The weighted sums the relative-error fit of t = a + b x needs (weights 1/t^2). Kept as prefix
// sums, any range's fit and error cost O(1), so the split search below is linear, not quadratic.
struct FitSums {
    double s00 = 0, s01 = 0, s11 = 0, r0 = 0, r1 = 0, n = 0;
    void add(double x, double t) {
        const double w = 1.0 / sq(t);
        s00 += w;
        s01 += w * x;
        s11 += w * x * x;
        r0 += w * t;
        r1 += w * x * t;
        n += 1;
    }
    FitSums operator-(const FitSums& o) const { return {s00 - o.s00, s01 - o.s01, s11 - o.s11, r0 - o.r0, r1 - o.r1, n - o.n}; }
    // sum ((a + b x - t) / t)^2 over the points, expanded in the sums (w t^2 = 1 for each point).
    double error(std::pair<double, double> ab) const {
        const auto [a, b] = ab;
        return std::max(0.0, a * a * s00 + b * b * s11 + n + 2 * a * b * s01 - 2 * a * r0 - 2 * b * r1);
    }
};

std::pair<double, double> fitSums(const FitSums& s) {
    // minimise sum ((a + b x - t) / t)^2: normal equations with weights 1/t^2.
    const double det = s.s00 * s.s11 - s.s01 * s.s01;
    if (s.n < 2 || std::abs(det) < 1e-300 * std::max(1.0, s.s00 * s.s11)) {
        // One point (or all at one size): latency only.
        return {s.r0 / s.s00, 0.0};
    }
    double a = (s.r0 * s.s11 - s.r1 * s.s01) / det;
    double b = (s.s00 * s.r1 - s.s01 * s.r0) / det;
    if (b < 0) {  // time cannot fall with size: constant fit
        b = 0;
        a = s.r0 / s.s00;
    }
    if (a < 0) {  // negative latency: fit through the origin
        a = 0;
        b = s.r1 / s.s11;
    }
    return {a, b};
}

}  // namespace

std::pair<double, double> fitRelative(const std::vector<double>& x, const std::vector<double>& t) {
    FitSums s;
    for (size_t i = 0; i < x.size(); ++i) s.add(x[i], t[i]);
    return fitSums(s);
}

spec::Result<Calibration> calibrate(const MeasuredTable& table, const ResolvedCluster& rc, CollectiveOp op, int n) {
    return calibrate(table, rc, op, n, CollectiveOptions{});
}

namespace {

// One adjustable catalog number of a link copy, with its range and name for the overlay.
struct Param {
    double* v;
    double lo, hi;
    std::string field;  // "collective_efficiency", "protocols.LL.base_latency_us", ...
    std::string link;
};

// All-to-alls move point-to-point (p2p_efficiency); the other collectives are rings and trees
// (collective_efficiency).
bool pointToPoint(CollectiveOp op) { return op == CollectiveOp::AllToAll || op == CollectiveOp::AllToAllV; }

void addLinkParams(LinkSpec& l, bool nvlsUsed, CollectiveOp op, std::vector<Param>& ps) {
    if (pointToPoint(op)) ps.push_back({&l.p2pEfficiency, 0.01, 1.0, "p2p_efficiency", l.name});
    else ps.push_back({&l.collectiveEfficiency, 0.01, 1.0, "collective_efficiency", l.name});
    if (nvlsUsed && l.nvls) {
        ps.push_back({&l.nvlsEfficiency, 0.01, 1.0, "nvls_efficiency", l.name});
        ps.push_back({&l.nvlsLatencyUs, 0.01, 1e4, "nvls_latency_us", l.name});
    }
    for (ProtocolSpec& p : l.protocols) {
        const std::string k = "protocols." + p.name + ".";
        ps.push_back({&p.baseLatencyUs, 0.01, 1e5, k + "base_latency_us", l.name});
        ps.push_back({&p.hopLatencyUs, 0.01, 1e5, k + "hop_latency_us", l.name});
        if (p.name != "Simple") ps.push_back({&p.bwFactor, 0.01, 1.0, k + "bw_factor", l.name});  // Simple is the reference
    }
}

}  // namespace

spec::Result<Calibration> calibrate(const MeasuredTable& table, const ResolvedCluster& rc, CollectiveOp op, int n, const CollectiveOptions& opt,
                                    FitLevel level) {
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
    // prefix[i]: the sums over the first i points (the table is sorted by size).
    std::vector<FitSums> prefix(x.size() + 1);
    for (size_t i = 0; i < x.size(); ++i) {
        prefix[i + 1] = prefix[i];
        prefix[i + 1].add(x[i], t[i]);
    }
    auto range = [&](size_t from, size_t to) { return prefix[to] - prefix[from]; };
    // One line, or two (small / large) split where the total relative error is least; the
    // model takes the cheaper line at each size, as the protocol choice does. Two lines cross at
    // most once, so along the sorted sizes the cheaper one changes at most once: one binary
    // search finds where, and each side's error comes from the prefix sums.
    const size_t m = x.size();
    auto whole = fitSums(range(0, m));
    double bestErr = range(0, m).error(whole);
    size_t bestSplit = 0;
    std::pair<double, double> lo{}, hi = whole;
    for (size_t s = 2; s + 2 <= m; ++s) {
        auto a = fitSums(range(0, s)), b = fitSums(range(s, m));
        const auto aCheaper = [&](size_t i) { return a.first + a.second * x[i] <= b.first + b.second * x[i]; };
        const bool firstA = aCheaper(0);
        size_t l = 0, r = m;  // first index where the cheaper line is no longer the first one's
        while (l < r) {
            const size_t mid = l + (r - l) / 2;
            if (aCheaper(mid) == firstA) l = mid + 1;
            else r = mid;
        }
        const double e = range(0, l).error(firstA ? a : b) + range(l, m).error(firstA ? b : a);
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
    const bool p2p = pointToPoint(op);
    c.efficiencyField = p2p ? "p2p_efficiency" : "collective_efficiency";
    const auto efficiency = [&](const LinkSpec& l) { return p2p ? l.p2pEfficiency : l.collectiveEfficiency; };
    const double suEff = suSpec * efficiency(*rc.scaleUp);
    const double netSpec = g * rc.nic->bwGBs;
    const double netEff = netSpec * efficiency(*rc.nic);
    if (nodes > 1 && netEff < suEff) {
        c.link = rc.nic->name;
        c.linkSpecGBs = netSpec;
        c.catalogEfficiency = efficiency(*rc.nic);
    } else {
        c.link = rc.scaleUp->name;
        c.linkSpecGBs = suSpec;
        c.catalogEfficiency = efficiency(*rc.scaleUp);
    }
    c.fittedEfficiency = c.regimes.back().busbwGBs / c.linkSpecGBs;

    double sf = 0, sc = 0;
    for (size_t i = 0; i < m; ++i) {
        CalibrationPoint p;
        p.bytes = x[i];
        p.measuredUs = t[i];
        p.fittedUs = hi.first + hi.second * x[i];
        if (bestSplit) p.fittedUs = std::min(p.fittedUs, lo.first + lo.second * x[i]);
        auto est = estimateCollective(rc, nullptr, op, x[i], n, opt);
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
    c.options = opt;

    // The model's own fit on copies of the links the collective crosses.
    LinkSpec su = *rc.scaleUp, nic = *rc.nic;
    ResolvedCluster trial = rc;
    trial.scaleUp = &su;
    trial.nic = &nic;
    std::vector<Param> ps;
    const bool nvlsUsed = opt.nvls && (opt.algorithm == Algorithm::Auto || opt.algorithm == Algorithm::Nvls || opt.algorithm == Algorithm::NvlsTree);
    const bool fitIntra = g > 1 && level != FitLevel::Inter, fitInter = nodes > 1 && level != FitLevel::Intra;
    if (!fitIntra && !fitInter)
        return spec::Diagnostics{{"--level", level == FitLevel::Inter ? "the measurement stays inside one node: there is no inter-node link to fit"
                                                                      : "the measurement has one GPU per node: there is no intra-node link to fit"}};
    if (fitIntra) addLinkParams(su, nvlsUsed, op, ps);
    if (fitInter) addLinkParams(nic, false, op, ps);
    // The descent evaluates the model at every point for every trial value; past kMaxFitRows rows
    // (real logs have tens) it uses that many spread evenly over the sorted sizes, so its cost stays
    // bounded while every row is still reported below.
    std::vector<size_t> fitRows;
    for (size_t j = 0, count = std::min(m, kMaxFitRows); j < count; ++j) fitRows.push_back(count == m ? j : j * (m - 1) / (count - 1));
    auto objective = [&]() {
        double e = 0;
        for (size_t i : fitRows) {
            auto est = estimateCollective(trial, nullptr, op, x[i], n, opt);
            if (!est || !std::isfinite(est->timeUs)) return std::numeric_limits<double>::infinity();
            e += sq((est->timeUs - t[i]) / t[i]);
        }
        return e;
    };
    double best = objective();
    // Coordinate descent with multiplicative steps, shrinking when a whole sweep gains nothing.
    int sweeps = 0;
    for (double step = 1.0; step > 0.002;) {
        if (++sweeps > 4000) break;  // a bound on the work; reached only by objectives that keep creeping down
        bool improved = false;
        for (Param& p : ps) {
            for (double f : {1 + step, 1 / (1 + step)}) {
                const double old = *p.v;
                const double v = std::clamp(old * f, p.lo, p.hi);
                if (v == old) continue;
                *p.v = v;
                const double e = objective();
                if (e < best * (1 - 1e-9)) {
                    best = e;
                    improved = true;
                    break;
                }
                *p.v = old;
            }
        }
        if (!improved) step /= 2;
    }
    if (fitIntra) c.fittedLinks.push_back(su);
    if (fitInter && nic.name != su.name) c.fittedLinks.push_back(nic);
    for (const Param& p : ps) c.fittedFields.push_back(p.link + "." + p.field);
    double s2 = 0;
    for (size_t i = 0; i < m; ++i) {
        auto est = estimateCollective(trial, nullptr, op, x[i], n, opt);
        CalibrationPoint& p = c.points[i];
        if (est) {
            p.calibratedUs = est->timeUs;
            p.calibratedAlgorithm = toString(est->algorithm);
            p.calibratedProtocol = est->protocol;
        }
        p.calibratedErrorPct = (p.calibratedUs - t[i]) / t[i] * 100;
        s2 += sq(p.calibratedErrorPct);
        c.calibratedMaxAbsPct = std::max(c.calibratedMaxAbsPct, std::abs(p.calibratedErrorPct));
    }
    c.calibratedRmsPct = std::sqrt(s2 / m);
    return c;
}

std::string calibrationOverlay(const Calibration& c, const std::string& measurement, const std::string& clusterName) {
    nlohmann::ordered_json doc;
    std::ostringstream what;
    what.setf(std::ios::fixed);
    what.precision(1);
    what << "moe calibrate: fitted to " << measurement << " (" << toString(c.op) << " on " << c.ranks << " GPUs of " << clusterName << ", "
         << c.points.size() << " sizes; model rms error " << c.catalogRmsPct << "% before, " << c.calibratedRmsPct << "% after)";
    doc["comment"] = "Catalog overlay written by " + what.str() + ". Entries replace the catalog entries of the same name.";
    doc["links"] = nlohmann::ordered_json::array();
    for (const LinkSpec& l : c.fittedLinks) {
        nlohmann::ordered_json j;
        std::map<std::string, std::string> src = l.sources;
        auto fitted = [&](const std::string& field) {
            return std::find(c.fittedFields.begin(), c.fittedFields.end(), l.name + "." + field) != c.fittedFields.end();
        };
        auto num = [&](nlohmann::ordered_json& into, const std::string& key, const std::string& sourceKey, double v) {
            into[key] = std::round(v * 1e6) / 1e6;
            if (fitted(sourceKey)) src[sourceKey] = what.str();
        };
        j["name"] = l.name;
        j["kind"] = toString(l.kind);
        j["display"] = l.display;
        num(j, "bw_gb_s", "bw_gb_s", l.bwGBs);
        if (l.linksPerGpu != 1) num(j, "links_per_gpu", "links_per_gpu", l.linksPerGpu);
        num(j, "collective_efficiency", "collective_efficiency", l.collectiveEfficiency);
        num(j, "p2p_efficiency", "p2p_efficiency", l.p2pEfficiency);
        j["nvls"] = l.nvls;
        if (l.sharp) j["sharp"] = true;  // in-network reduction (CollNet), kept with its source
        if (l.nvls) {
            num(j, "nvls_efficiency", "nvls_efficiency", l.nvlsEfficiency);
            num(j, "nvls_latency_us", "nvls_latency_us", l.nvlsLatencyUs);
        }
        if (l.ncclChannels > 0) num(j, "nccl_channels", "nccl_channels", l.ncclChannels);
        if (l.epDispatchExtraUs > 0) num(j, "ep_dispatch_extra_us", "ep_dispatch_extra_us", l.epDispatchExtraUs);
        if (l.epCombineExtraUs > 0) num(j, "ep_combine_extra_us", "ep_combine_extra_us", l.epCombineExtraUs);
        j["protocols"] = nlohmann::ordered_json::array();
        for (const ProtocolSpec& p : l.protocols) {
            nlohmann::ordered_json pj;
            pj["name"] = p.name;
            const std::string k = "protocols." + p.name + ".";
            num(pj, "base_latency_us", k + "base_latency_us", p.baseLatencyUs);
            num(pj, "hop_latency_us", k + "hop_latency_us", p.hopLatencyUs);
            num(pj, "bw_factor", k + "bw_factor", p.bwFactor);
            if (p.perChannelMaxGBs > 0) num(pj, "per_channel_max_gb_s", k + "per_channel_max_gb_s", p.perChannelMaxGBs);
            if (p.maxGBs > 0) num(pj, "max_gb_s", k + "max_gb_s", p.maxGBs);
            j["protocols"].push_back(pj);
        }
        j["sources"] = nlohmann::ordered_json::object();
        for (const auto& [k, v] : src) j["sources"][k] = v;
        doc["links"].push_back(j);
    }
    return doc.dump(2) + "\n";
}

}  // namespace moe::cluster
