#pragma once
// Test data for the dashboards: run stores written with RunWriter from snapshots built here.
// The numbers are made up (clearly test data) but have the shapes a real run has: a small 2-D
// model whose third block collapses onto one expert over time, and a 64 x 256 model for the
// heatmap's readability. Deterministic (fixed seeds).

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"

namespace moe::viz::testdata {

namespace tl = moe::telemetry;

// 2-D blobs (4 classes), four MoE blocks with a pyramid expert schedule 4..8 and k = 2.
inline spec::Project smallProject() {
    spec::Project p;
    p.description = "viz test fixture";
    p.model.name = "viz-fixture";
    p.model.input.dataset = spec::DatasetKind::Blobs;
    p.model.input.classes = 4;
    for (int i = 0; i < 4; ++i) p.model.blocks.push_back(spec::BlockSpec{});
    spec::Schedule ex;
    ex.kind = spec::ScheduleKind::Pyramid;
    ex.min = 4;
    ex.max = 8;
    p.model.expertSchedule = ex;
    p.training.steps = 600;
    return p;
}

// One block at training progress u in [0, 1]. `collapse` makes the load drift onto expert 0.
inline tl::BlockSnapshot makeBlock(int block, int experts, int classes, double u, bool collapse, std::mt19937& rng,
                                   int mapRes, const std::vector<float>& points) {
    tl::BlockSnapshot b;
    b.block = block;
    b.experts = experts;
    b.ffnExperts = experts;
    b.tokens = 1024;
    b.classes = classes;
    std::uniform_real_distribution<double> jitter(0.85, 1.15);
    // Router preference: near-uniform with noise for a healthy block; a collapsing block's
    // preference sharpens onto expert 0 as training goes on.
    std::vector<double> w(static_cast<size_t>(experts));
    const double sharp = collapse ? 24.0 * u * u / experts : 0.0;
    std::uniform_real_distribution<double> spread(0.55, 1.45);
    for (int e = 0; e < experts; ++e)
        w[static_cast<size_t>(e)] = std::exp(-sharp * e) * (collapse ? jitter(rng) : spread(rng));
    double sum = 0;
    for (double x : w) sum += x;
    const double assignments = 2.0 * static_cast<double>(b.tokens);  // k = 2
    for (int e = 0; e < experts; ++e) {
        b.tokensPerExpert.push_back(std::round(assignments * w[static_cast<size_t>(e)] / sum));
        b.meanGateProb.push_back(w[static_cast<size_t>(e)] / sum);
    }
    // Capacity factor 1.25: what goes over capacity is dropped.
    const double cap = std::ceil(1.25 * assignments / experts);
    for (auto& t : b.tokensPerExpert)
        if (t > cap) {
            b.dropped += static_cast<std::int64_t>(t - cap);
            t = cap;
        }
    const auto share = b.loadShare();
    double h = 0;
    for (double p : share)
        if (p > 0) h -= p * std::log(p);
    b.meanTokenEntropy = h * 0.8;
    b.tokenEntropyHist = {10, 40, 120, 300, 350, 150, 40, 14};
    b.expertsPerTokenHist.assign(static_cast<size_t>(experts) + 1, 0);
    b.expertsPerTokenHist[2] = static_cast<double>(b.tokens);
    // Class x expert: class c prefers expert c % experts; collapse pulls every class to expert 0.
    for (int c = 0; c < classes; ++c)
        for (int e = 0; e < experts; ++e) {
            const double pref = (e == c % experts ? 3.0 : 0.4) * (1.0 - (collapse ? u : 0)) + (e == 0 && collapse ? 4.0 * u : 0);
            b.classExpert.push_back(std::round(60.0 * pref * jitter(rng)));
        }
    // Similarity: experts grow alike as the block collapses.
    for (int i = 0; i < experts; ++i)
        for (int j = 0; j < experts; ++j)
            b.similarity.push_back(i == j ? 1.0 : std::clamp((collapse ? 0.2 + 0.75 * u : 0.15) * jitter(rng) - 0.05 * std::abs(i - j), -1.0, 1.0));
    b.routerGradNorm = (collapse ? 2e-2 * std::exp(-5.0 * u) : 1.5e-2) * jitter(rng);
    b.auxLoss = 1.0 + (collapse ? u : 0.05);
    // Routing map: sectors around the centre; collapse lets expert 0 take the plane over.
    if (mapRes > 0) {
        b.mapResolution = mapRes;
        for (int y = 0; y < mapRes; ++y)
            for (int x = 0; x < mapRes; ++x) {
                const double px = (x + 0.5) / mapRes * 2 - 1, py = (y + 0.5) / mapRes * 2 - 1;
                const double ang = std::atan2(py, px) + 3.14159265358979 + 0.4 * block;
                int e = static_cast<int>(ang / (2 * 3.14159265358979) * experts) % experts;
                if (collapse && std::hypot(px, py) < 1.6 * u) e = 0;
                b.routingMap.push_back(e);
            }
    }
    (void)points;
    return b;
}

// `steps` snapshots of the small project; block 2 collapses, with alerts as it goes.
inline std::vector<tl::SnapshotPtr> collapsingRun(const spec::Project& p, int snapshots = 12) {
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 0.35f);
    std::vector<float> points;
    const float centres[4][2] = {{-1.2f, -1.0f}, {1.1f, -1.1f}, {1.0f, 1.2f}, {-1.1f, 1.0f}};
    for (int i = 0; i < 160; ++i) {
        const int c = i % 4;
        points.insert(points.end(), {centres[c][0] + noise(rng), centres[c][1] + noise(rng), static_cast<float>(c)});
    }
    std::vector<tl::SnapshotPtr> out;
    for (int t = 0; t < snapshots; ++t) {
        const double u = snapshots > 1 ? static_cast<double>(t) / (snapshots - 1) : 1.0;
        auto s = std::make_shared<tl::RoutingSnapshot>();
        s->step = 50 * (t + 1);
        s->epoch = s->step / 64.0;
        s->loss = 1.4 * std::exp(-2.0 * u) + 0.3;
        s->taskLoss = s->loss - 0.02;
        s->accuracy = 0.5 + 0.4 * u;
        s->learningRate = 1e-3;
        s->tokensPerSecond = 52000;
        s->wallSeconds = 2.0 * (t + 1);
        s->mapXMin = s->mapYMin = -2.5;
        s->mapXMax = s->mapYMax = 2.5;
        s->mapPoints = points;
        for (int b = 0; b < static_cast<int>(p.model.blocks.size()); ++b)
            s->blocks.push_back(makeBlock(b, p.model.expertsOf(b), 4, u, b == 2, rng, 32, points));
        const auto& c = s->blocks[2];
        const auto share = c.loadShare();
        int dead = 0;
        for (double x : share) dead += x < 1.0 / (10.0 * c.experts);
        if (dead > 0)
            s->alerts.push_back({s->step, 2, tl::AlertKind::DeadExperts, dead > 3 ? tl::Severity::Critical : tl::Severity::Warning,
                                 static_cast<double>(dead), std::to_string(dead) + " of " + std::to_string(c.experts) + " experts are dead",
                                 "These experts receive almost no tokens, so they stop learning and waste their parameters.",
                                 "Raise the load-balancing loss (losses.aux) or add router noise."});
        if (*std::max_element(share.begin(), share.end()) > 0.4)
            s->alerts.push_back({s->step, 2, tl::AlertKind::LoadImbalance, tl::Severity::Warning, share[0],
                                 "One expert takes most tokens", "Expert 0 receives far more than its fair share of the tokens.",
                                 "Use a capacity factor or a stronger auxiliary loss."});
        out.push_back(s);
    }
    return out;
}

// A 64-block x 256-expert model's snapshots (few steps): for the heatmap at full scale.
inline std::vector<tl::SnapshotPtr> bigRun(int snapshots = 3) {
    std::mt19937 rng(11);
    std::vector<tl::SnapshotPtr> out;
    for (int t = 0; t < snapshots; ++t) {
        auto s = std::make_shared<tl::RoutingSnapshot>();
        s->step = 100 * (t + 1);
        for (int b = 0; b < 64; ++b)
            s->blocks.push_back(makeBlock(b, 256, 10, static_cast<double>(t + 1) / snapshots, b % 8 == 5, rng, 0, {}));
        out.push_back(s);
    }
    return out;
}

// A byte-level language model's run: the probe text routed through two MoE layers (flattened
// layers 1 and 3 of attention/MoE pairs). Layer 1 sends letters to expert 0, spaces to 1,
// digits to 2 and everything else to 3; layer 3 shifts that by one expert. k = 2, the second
// choice is the next expert. Text token classes name the specialisation rows.
inline const std::string kProbeText = "The cat sat on 42 mats.\nA dog, too!";

inline int probeClass(int byte) {
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z')) return 0;
    if (byte == ' ') return 1;
    if (byte >= '0' && byte <= '9') return 2;
    return 3;
}
inline int probeExpert(int layerPos, int byte) { return (probeClass(byte) + layerPos) % 4; }

inline spec::Project textProject() {
    spec::Project p;
    p.description = "viz text fixture";
    p.model.name = "viz-text";
    p.model.input.dataset = spec::DatasetKind::Text;
    p.model.input.seqLen = 64;
    p.model.stem.kind = spec::StemKind::Embedding;
    for (int i = 0; i < 4; ++i) {
        spec::BlockSpec b;
        b.kind = i % 2 == 0 ? spec::BlockKind::Attention : spec::BlockKind::Moe;
        if (b.kind == spec::BlockKind::Moe) b.experts = 4;
        p.model.blocks.push_back(b);
    }
    p.training.steps = 100;
    return p;
}

inline std::vector<tl::SnapshotPtr> textRun(int snapshots = 2) {
    std::mt19937 rng(5);
    std::vector<tl::SnapshotPtr> out;
    for (int t = 0; t < snapshots; ++t) {
        auto s = std::make_shared<tl::RoutingSnapshot>();
        s->step = 50 * (t + 1);
        s->loss = 2.0 - 0.3 * t;
        for (unsigned char c : kProbeText) s->probeTokens.push_back(c);
        s->classNames = {"letters", "spaces", "digits", "punctuation"};
        for (int li = 0; li < 2; ++li) {
            tl::BlockSnapshot b = makeBlock(1 + 2 * li, 4, 4, 0.5, false, rng, 0, {});
            b.probeK = 2;
            for (int tok : s->probeTokens) {
                const int e = probeExpert(li, tok);
                b.probeExperts.insert(b.probeExperts.end(), {e, (e + 1) % 4});
                b.probeGates.insert(b.probeGates.end(), {0.7f, 0.3f});
            }
            s->blocks.push_back(b);
        }
        out.push_back(s);
    }
    return out;
}

// Writes snapshots to a run store; returns an empty string or the error.
inline std::string writeRun(const std::string& path, const spec::Project* project, const std::vector<tl::SnapshotPtr>& snaps) {
    tl::RunInfo info;
    info.runId = "viz-fixture";
    info.startedAt = tl::utcNowIso();
    if (project) info.projectJson = spec::serializeProject(*project);
    auto w = tl::RunWriter::create(path, info);
    if (!w) return w.message();
    for (const auto& s : snaps) w.value()->append(s);
    w.value()->finish("finished");
    return w.value()->error();
}

}  // namespace moe::viz::testdata
