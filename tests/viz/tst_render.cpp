// Offscreen renders of every dashboard view from recorded runs (run stores written and read back),
// with pixel checks. Exits 77 (skipped) when there is no Vulkan device.
#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstdio>

#include "moe/telemetry/run_store.h"
#include "moe/viz/colormap.h"
#include "moe/viz/offscreen.h"
#include "moe/viz/panels.h"
#ifdef MOE_VIZ_HAS_CLUSTER
#include "moe/cluster/simulate.h"
#include "moe/viz/cluster_sim.h"
#endif
#include "viz_fixture.h"

using namespace moe;

namespace {

struct Rgb8 {
    int r, g, b;
};
Rgb8 rgb8(std::uint32_t p) { return {int(p >> 24), int((p >> 16) & 0xFF), int((p >> 8) & 0xFF)}; }
Rgb8 rgb8(viz::Rgb c) { return {int(std::lround(c.r * 255)), int(std::lround(c.g * 255)), int(std::lround(c.b * 255))}; }
int dist(Rgb8 a, Rgb8 b) { return std::abs(a.r - b.r) + std::abs(a.g - b.g) + std::abs(a.b - b.b); }

// Pixels in [x0, x1) x [y0, y1) within `tol` of any of `colours`.
int countNear(const viz::Image& img, const std::vector<Rgb8>& colours, int tol, int x0 = 0, int y0 = 0, int x1 = -1, int y1 = -1) {
    if (x1 < 0) x1 = img.width;
    if (y1 < 0) y1 = img.height;
    int n = 0;
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) {
            const Rgb8 p = rgb8(img.pixel(x, y));
            for (const auto& c : colours)
                if (dist(p, c) <= tol) { ++n; break; }
        }
    return n;
}

std::vector<Rgb8> viridisSamples(int n = 64) {
    std::vector<Rgb8> v;
    for (int i = 0; i < n; ++i) v.push_back(rgb8(viz::viridis(i / double(n - 1))));
    return v;
}

// Distinct colours (quantised) and the share of pixels unlike the background.
std::pair<int, double> variety(const viz::Image& img) {
    std::vector<bool> seen(1 << 15);
    int distinct = 0, notBg = 0;
    const Rgb8 bg{24, 26, 31};
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x) {
            const Rgb8 p = rgb8(img.pixel(x, y));
            const int key = ((p.r >> 3) << 10) | ((p.g >> 3) << 5) | (p.b >> 3);
            if (!seen[size_t(key)]) { seen[size_t(key)] = true; ++distinct; }
            notBg += dist(p, bg) > 6;
        }
    return {distinct, double(notBg) / (img.width * img.height)};
}

}  // namespace

class TestRender : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    std::unique_ptr<viz::OffscreenRenderer> m_r;
    viz::RunView m_small, m_big, m_empty, m_text;
    QString m_out;

    viz::RunView load(const std::string& path) {
        auto rd = telemetry::RunReader::open(path);
        if (!rd) qFatal("cannot read %s: %s", path.c_str(), rd.message().c_str());
        return viz::RunView::fromReader(*rd.value());
    }

    viz::Image render(viz::View v, const viz::RunView& run, viz::PanelState& st, const QString& name, int frames = 3) {
        for (int i = 0; i < frames; ++i) m_r->frame([&] { viz::drawSingleView(v, run, st); });
        auto img = m_r->readPixels();
        const auto e = viz::savePng(img, (m_out + "/" + name + ".png").toStdString());
        if (!e.empty()) qWarning("%s", e.c_str());
        return img;
    }

private Q_SLOTS:
    void initTestCase() {
        auto r = viz::OffscreenRenderer::create(1280, 800);
        QVERIFY2(r.ok(), r.message().c_str());
        m_r = std::move(r.value());
        m_out = QString(MOE_BINARY_DIR) + "/tests/viz/renders";
        QDir().mkpath(m_out);
        const auto project = viz::testdata::smallProject();
        const std::string a = m_dir.filePath("small.sqlite").toStdString();
        QCOMPARE(QString::fromStdString(viz::testdata::writeRun(a, &project, viz::testdata::collapsingRun(project))), QString());
        const std::string b = m_dir.filePath("big.sqlite").toStdString();
        QCOMPARE(QString::fromStdString(viz::testdata::writeRun(b, nullptr, viz::testdata::bigRun())), QString());
        const std::string c = m_dir.filePath("empty.sqlite").toStdString();
        QCOMPARE(QString::fromStdString(viz::testdata::writeRun(c, nullptr, {})), QString());
        // The probe lives in snapshots built here (the views read a RunView, stored or not).
        m_text.project = viz::testdata::textProject();
        m_text.snapshots = viz::testdata::textRun();
        m_small = load(a);
        m_big = load(b);
        m_empty = load(c);
        QVERIFY(m_small.project.has_value());
        QCOMPARE(int(m_small.snapshots.size()), 12);
#ifdef MOE_VIZ_HAS_CLUSTER
        // The cluster view's preprocess step: the fixture project's default deployment, priced
        // with the routing recorded in the last snapshot (block 2 has collapsed by then).
        auto sim = viz::simulateCluster(m_small);
        QVERIFY2(sim.ok(), sim.message().c_str());
        m_small.cluster = sim->result;
        m_small.clusterNote = sim->note;
#endif
    }

    void clusterViewShowsTopologyTimelineAndStraggler() {
#ifndef MOE_VIZ_HAS_CLUSTER
        QSKIP("this build has no cluster simulator");
#else
        viz::PanelState st;
        const auto img = render(viz::View::Cluster, m_small, st, "cluster");
        QVERIFY(m_small.cluster->stepUs > 0);
        QVERIFY(!m_small.cluster->ranks.empty());
        // Timeline colours (expert compute and dispatch) and the utilisation legend are drawn.
        QVERIFY(countNear(img, {rgb8(viz::categorical(3, 9))}, 6) > 500);
        QVERIFY(countNear(img, {rgb8(viz::categorical(1, 9))}, 6) > 100);
        QVERIFY(countNear(img, {rgb8(viz::viridis(1.0))}, 12, 1100, 0) > 30);
        if (m_small.cluster->stragglerRank >= 0)
            QVERIFY(countNear(img, {rgb8(viz::statusColour(viz::Status::Critical))}, 10) > 100);
#endif
    }

    void everyViewDraws_data() {
        QTest::addColumn<int>("view");
        for (viz::View v : viz::kAllViews)
            if (viz::viewAvailable(v)) QTest::newRow(std::string(viz::toString(v)).c_str()) << int(v);
    }
    void everyViewDraws() {
        QFETCH(int, view);
        const auto v = viz::View(view);
        viz::PanelState st;
        st.block = 2;  // the collapsing block
        // Token routing needs a sequence model's probe; the small run is an MLP.
        const auto img = render(v, v == viz::View::Tokens ? m_text : m_small, st, QString::fromStdString(std::string(viz::toString(v))));
        QCOMPARE(img.width, 1280);
        const auto [distinct, covered] = variety(img);
        QVERIFY2(distinct > 40, qPrintable(QString("only %1 distinct colours").arg(distinct)));
        QVERIFY2(covered > 0.05, qPrintable(QString("only %1 of the picture is drawn").arg(covered)));
    }

    void heatmapHasColourAndLegend() {
        viz::PanelState st;
        const auto img = render(viz::View::Heatmap, m_small, st, "heatmap-small");
        // Viridis cells in the plot area, and the legend's top (yellow) and bottom (purple) on the right.
        QVERIFY(countNear(img, viridisSamples(), 6, 100, 80, 1100, 760) > 100000);
        const int right = 1280 - 150;
        QVERIFY(countNear(img, {rgb8(viz::viridis(1.0))}, 12, right, 0) > 30);
        QVERIFY(countNear(img, {rgb8(viz::viridis(0.0))}, 12, right, 0) > 30);
    }

    void heatmapHoverNamesTheCell() {
        viz::PanelState st;
        render(viz::View::Heatmap, m_big, st, "heatmap-64x256");
        // Probe the plot: find a cell by hovering, then check the reported value is that cell's share.
        m_r->setMouse(700, 400);
        auto img = render(viz::View::Heatmap, m_big, st, "heatmap-64x256-hover", 2);
        QVERIFY(st.hover.valid);
        QVERIFY(st.hover.block >= 0 && st.hover.block < 64);
        QVERIFY(st.hover.expert >= 0 && st.hover.expert < 256);
        const auto& b = m_big.snapshots.back()->blocks[size_t(st.hover.row)];
        QCOMPARE(st.hover.value, b.loadShare()[size_t(st.hover.expert)]);
        // Moving right by a lot moves to a higher expert; down moves to a later block.
        m_r->setMouse(1000, 600);
        render(viz::View::Heatmap, m_big, st, "heatmap-64x256-hover2", 2);
        QVERIFY(st.hover.expert > 0 && st.hover.block > 0);
        m_r->setMouse(-10, -10);
        // 64 x 256 at 1280 x 800: every block row and expert column gets its own cells (no aggregation),
        // i.e. many distinct viridis colours fill the plot.
        QVERIFY(countNear(img, viridisSamples(), 6, 100, 80, 1100, 740) > 300000);
    }

    void heatmapZoomsWithTheWheel() {
        viz::PanelState st;
        render(viz::View::Heatmap, m_big, st, "zoom-before", 1);
        m_r->setMouse(600, 400);
        m_r->setWheel(3);
        render(viz::View::Heatmap, m_big, st, "heatmap-zoomed", 2);
        QVERIFY(st.expertEnd - st.expertBegin < 256);
        QVERIFY(st.expertBegin <= st.hover.expert && st.hover.expert < st.expertEnd);
        m_r->setMouse(-10, -10);
    }

    void heatmapLogScaleAndMetrics() {
        viz::PanelState st;
        st.scale = viz::Scale::Log;
        auto img = render(viz::View::Heatmap, m_small, st, "heatmap-log");
        QVERIFY(countNear(img, viridisSamples(), 6, 100, 80, 1100, 760) > 100000);
        st.scale = viz::Scale::Linear;
        st.metric = viz::HeatMetric::DropRate;
        img = render(viz::View::Heatmap, m_small, st, "heatmap-drops");
        QVERIFY(countNear(img, viridisSamples(), 6, 100, 80, 1100, 760) > 100000);
        st.metric = viz::HeatMetric::MeanGateProb;
        render(viz::View::Heatmap, m_small, st, "heatmap-gate");
    }

    // Load ÷ even share: a balanced 4-expert block and a balanced 16-expert block read the same
    // neutral colour; by raw share the first looks hot and the second cold.
    void loadRatioReadsTheSameForAnyExpertCount() {
        auto balanced = [](int experts) {
            viz::RunView v;
            auto s = std::make_shared<telemetry::RoutingSnapshot>();
            s->step = 10;
            telemetry::BlockSnapshot b;
            b.experts = b.ffnExperts = experts;
            b.tokensPerExpert.assign(size_t(experts), 100.0);
            b.meanGateProb.assign(size_t(experts), 1.0 / experts);
            b.tokens = 100 * experts;
            s->blocks = {b, b};
            s->blocks[1].block = 1;
            v.snapshots.push_back(s);
            return v;
        };
        const auto neutral = rgb8(viz::diverging(0.5));
        for (int experts : {4, 16}) {
            viz::PanelState st;
            st.metric = viz::HeatMetric::LoadRatio;
            const auto img = render(viz::View::Heatmap, balanced(experts), st, QString("heatmap-ratio-%1").arg(experts));
            QVERIFY2(countNear(img, {neutral}, 6, 100, 80, 1100, 760) > 200000, qPrintable(QString::number(experts)));
        }
    }

    // Two runs: both drawn, under an amber BEFORE banner and a blue LATEST one.
    void comparedRunsDrawSideBySide() {
        viz::PanelState st;
        viz::RunView both = m_small;
        both.compared = std::make_shared<viz::RunView>(m_small);
        const auto img = render(viz::View::Load, both, st, "load-compared");
        QVERIFY(countNear(img, {{176, 104, 18}}, 4) > 2000);
        QVERIFY(countNear(img, {{36, 98, 176}}, 4) > 2000);
        QVERIFY(countNear(img, viridisSamples(), 6) > 40000);
        QCOMPARE(int(st.comparedState.size()), 1);
        // The collapse monitor names when each detector first tripped.
        const auto trips = viz::firstTrips(m_small);
        QVERIFY(!trips.empty());
        for (size_t i = 1; i < trips.size(); ++i) QVERIFY(trips[i - 1].step <= trips[i].step);
    }

    void scrubbingChangesThePicture() {
        viz::PanelState st;
        st.block = 2;
        st.snapshotIndex = 0;
        const auto early = render(viz::View::Load, m_small, st, "load-early");
        st.snapshotIndex = -1;
        const auto late = render(viz::View::Load, m_small, st, "load-late");
        int differ = 0;
        for (int y = 0; y < 800; ++y)
            for (int x = 0; x < 1280; ++x) differ += early.pixel(x, y) != late.pixel(x, y);
        QVERIFY(differ > 1000);
    }

    void loadMarksDeadExperts() {
        viz::PanelState st;
        st.block = 2;
        const auto img = render(viz::View::Load, m_small, st, "load-dead");
        // The strike-through and the markers use the Okabe-Ito vermillion.
        QVERIFY(countNear(img, {rgb8(viz::statusColour(viz::Status::Critical))}, 10) > 200);
        st.block = 0;  // the healthy block has none
        const auto ok = render(viz::View::Load, m_small, st, "load-healthy");
        QVERIFY(countNear(ok, {rgb8(viz::statusColour(viz::Status::Critical))}, 10, 100, 150, 1000, 800) < 50);
    }

    void collapseShowsAlertBadges() {
        viz::PanelState st;
        const auto img = render(viz::View::Collapse, m_small, st, "collapse");
        QVERIFY(countNear(img, {rgb8(viz::statusColour(viz::Status::Critical))}, 10) > 300);
        QVERIFY(countNear(img, {rgb8(viz::statusColour(viz::Status::Warning))}, 10) > 300);
        // At the first step nothing has collapsed: no critical badge.
        st.snapshotIndex = 0;
        const auto early = render(viz::View::Collapse, m_small, st, "collapse-early");
        QCOMPARE(countNear(early, {rgb8(viz::statusColour(viz::Status::Critical))}, 10), 0);
    }

    void routingMapColoursByExpert() {
        viz::PanelState st;
        const auto img = render(viz::View::RoutingMap, m_small, st, "routing-map");
        for (int e = 0; e < 4; ++e)
            QVERIFY2(countNear(img, {rgb8(viz::categorical(e, 8))}, 6) > 500, qPrintable(QString("expert %1").arg(e)));
    }

    // Horizontal bands of the picture (left of the colour key) where expert colours fill rows.
    static std::vector<std::pair<int, int>> expertBands(const viz::Image& img, const std::vector<Rgb8>& experts, int xMax) {
        std::vector<std::pair<int, int>> bands;
        for (int y = 0; y < img.height; ++y) {
            const bool on = countNear(img, experts, 4, 0, y, xMax, y + 1) > 40;
            if (on && (bands.empty() || bands.back().second != y)) bands.push_back({y, y + 1});
            else if (on) bands.back().second = y + 1;
        }
        return bands;
    }

    void tokensColourCharactersByExpert() {
        std::vector<Rgb8> experts;
        for (int e = 0; e < 4; ++e) experts.push_back(rgb8(viz::categorical(e, 4)));
        viz::PanelState st;
        const auto img = render(viz::View::Tokens, m_text, st, "tokens");
        // One strip per MoE layer (the probe's two lines touch): two bands of expert colour.
        const auto bands = expertBands(img, experts, 1280 - 130);
        QCOMPARE(int(bands.size()), 2);
        const auto& text = viz::testdata::kProbeText;
        for (int li = 0; li < 2; ++li) {
            const int y = (bands[size_t(li)].first + bands[size_t(li)].second) / 2;
            // The leftmost cell is the first character ('T': a letter), the rightmost the last ('!').
            int x0 = -1, x1 = -1;
            for (int x = 0; x < 1150; ++x)
                if (countNear(img, experts, 4, x, y - 3, x + 1, y + 4) > 0) { if (x0 < 0) x0 = x; x1 = x; }
            QVERIFY(x0 >= 0);
            const Rgb8 firstColour = rgb8(viz::categorical(viz::testdata::probeExpert(li, text.front()), 4));
            const Rgb8 lastColour = rgb8(viz::categorical(viz::testdata::probeExpert(li, text.back()), 4));
            QVERIFY2(countNear(img, {firstColour}, 4, x0, bands[size_t(li)].first, x0 + 3, bands[size_t(li)].second) > 6,
                     qPrintable(QString("layer %1: first cell").arg(li)));
            QVERIFY2(countNear(img, {lastColour}, 4, x1 - 2, bands[size_t(li)].first, x1 + 1, bands[size_t(li)].second) > 6,
                     qPrintable(QString("layer %1: last cell").arg(li)));
            // Letters dominate the probe, so the letters' expert covers most of the strip.
            const Rgb8 letters = rgb8(viz::categorical(viz::testdata::probeExpert(li, 'a'), 4));
            const int strip = countNear(img, experts, 4, x0, bands[size_t(li)].first, x1 + 1, bands[size_t(li)].second);
            QVERIFY(countNear(img, {letters}, 4, x0, bands[size_t(li)].first, x1 + 1, bands[size_t(li)].second) * 2 > strip);
            // Hovering the first cell names its token, layer and first expert.
            m_r->setMouse(x0 + 3, bands[size_t(li)].first + 5);
            render(viz::View::Tokens, m_text, st, QString("tokens-hover-%1").arg(li), 2);
            QVERIFY(st.hover.valid);
            QCOMPARE(st.hover.row, 0);
            QCOMPARE(st.hover.block, 1 + 2 * li);
            QCOMPARE(st.hover.expert, viz::testdata::probeExpert(li, text.front()));
            QCOMPARE(st.hover.value, 0.7f);
            m_r->setMouse(-10, -10);
        }
        // The colour key names every expert.
        for (const auto& c : experts) QVERIFY(countNear(img, {c}, 4, 1280 - 130, 0) > 40);
    }

    void tokensDrawImageProbesAsPatchGrids() {
        viz::RunView run;
        auto snap = std::make_shared<telemetry::RoutingSnapshot>(*m_text.snapshots.back());
        snap->probeSamples = 3;
        snap->probeTokens.assign(3 * 16, 0);
        snap->classNames.clear();
        for (auto& b : snap->blocks) {
            b.probeExperts.clear();
            b.probeGates.clear();
            for (int i = 0; i < 3; ++i)
                for (int p = 0; p < 16; ++p) {
                    snap->probeTokens[size_t(i * 16 + p)] = i;
                    const int e = (p / 4 + i) % 4;  // one expert per patch row
                    b.probeExperts.insert(b.probeExperts.end(), {e, (e + 1) % 4});
                    b.probeGates.insert(b.probeGates.end(), {0.6f, 0.4f});
                }
        }
        run.snapshots = {snap};
        viz::PanelState st;
        const auto img = render(viz::View::Tokens, run, st, "tokens-images");
        for (int e = 0; e < 4; ++e) QVERIFY(countNear(img, {rgb8(viz::categorical(e, 4))}, 4, 0, 0, 1150) > 400);
    }

    void tokensSayWhenTheRunHasNoProbe() {
        viz::PanelState st;
        const auto img = render(viz::View::Tokens, m_small, st, "tokens-mlp");
        QVERIFY(variety(img).first > 3);  // the explanation box and its text
        std::vector<Rgb8> experts;
        for (int e = 0; e < 8; ++e) experts.push_back(rgb8(viz::categorical(e, 8)));
        QVERIFY(countNear(img, experts, 4, 0, 100) < 50);
    }

    void specialisationNamesTextClasses() {
        // Rows are labelled with the snapshot's class names ("punctuation" is wider than
        // "class 3"), so the matrix starts further right than with class numbers.
        auto leftEdge = [&](const viz::RunView& run, const QString& name) {
            viz::PanelState st;
            const auto img = render(viz::View::Specialisation, run, st, name);
            for (int x = 0; x < 640; ++x)
                if (countNear(img, viridisSamples(), 6, x, 100, x + 1, 700) > 100) return x;
            return -1;
        };
        viz::RunView numbered = m_text;
        auto plain = std::make_shared<telemetry::RoutingSnapshot>(*m_text.snapshots.back());
        plain->classNames.clear();
        numbered.snapshots = {plain};
        const int named = leftEdge(m_text, "specialisation-text"), numeric = leftEdge(numbered, "specialisation-text-numbers");
        QVERIFY(numeric > 0);
        QVERIFY2(named > numeric + 10, qPrintable(QString("named %1, numbered %2").arg(named).arg(numeric)));
    }

    void scheduleHasBarsAndGhosts() {
        viz::PanelState st;
        const auto img = render(viz::View::Schedule, m_small, st, "schedule");
        const Rgb8 solid = rgb8(viz::statusColour(viz::Status::Info));
        QVERIFY(countNear(img, {solid}, 6, 0, 0, 660, 800) > 5000);   // the project's bars
        QVERIFY(countNear(img, {solid}, 6, 700, 0, 1280, 800) < 200);  // ghosts are not solid...
        // ...but translucent: 22% of the solid colour over the plot background.
        const Rgb8 ghost{int(34 + (solid.r - 34) * 0.22), int(37 + (solid.g - 37) * 0.22), int(44 + (solid.b - 44) * 0.22)};
        QVERIFY(countNear(img, {ghost}, 8, 700, 0, 1280, 800) > 2000);
    }

    void emptyAndProjectlessRunsSayWhy() {
        for (viz::View v : viz::kAllViews) {
            if (!viz::viewAvailable(v)) continue;
            viz::PanelState st;
            const auto img = render(v, m_empty, st, "empty-" + QString::fromStdString(std::string(viz::toString(v))), 2);
            QVERIFY(variety(img).first > 3);  // the explanation box and its text
        }
        viz::PanelState st;
        const auto img = render(viz::View::Schedule, m_big, st, "schedule-no-project", 2);
        QVERIFY(countNear(img, {rgb8(viz::statusColour(viz::Status::Info))}, 6) < 50);
    }

    void viewNamesRoundTrip() {
        for (viz::View v : viz::kAllViews) QVERIFY(viz::parseView(viz::toString(v)).value() == v);
        QVERIFY(!viz::parseView("heat-map"));
    }
};

int main(int argc, char** argv) {
    {
        auto probe = viz::OffscreenRenderer::create(64, 64);
        if (!probe) {
            std::printf("SKIP: no Vulkan device: %s\n", probe.message().c_str());
            return 77;
        }
    }
    QCoreApplication app(argc, argv);
    TestRender t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_render.moc"
