// Every panel through a null renderer (an ImGui context with no GPU): draws without a Vulkan
// device, so it runs everywhere, and survives odd or malformed data without crashing.
#include <QtTest>

#include <imgui.h>

#include <cmath>

#include "moe/viz/imgui_setup.h"
#include "moe/viz/panels.h"
#include "viz_fixture.h"

using namespace moe;

namespace {

// One frame of `v`; returns the vertices drawn.
int frame(viz::View v, const viz::RunView& run, viz::PanelState& st, ImVec2 size = {1280, 800}, ImVec2 mouse = {-1, -1}) {
    ImGuiIO& io = ImGui::GetIO();
    io.DisplaySize = size;
    io.DeltaTime = 1.0f / 60.0f;
    io.MousePos = mouse;
    ImGui::NewFrame();
    viz::drawSingleView(v, run, st);
    ImGui::Render();
    return ImGui::GetDrawData()->TotalVtxCount;
}

// All the ImGui text (tooltips included) that `v` shows while the mouse visits every point of a
// grid over the top `height` pixels of a `size` window: each frame's text goes through ImGui's log
// to the clipboard hook.
std::string textUnderMouse(viz::View v, const viz::RunView& run, ImVec2 size, float height, float dx, float dy) {
    static std::string logged;
    logged.clear();
    ImGuiIO& io = ImGui::GetIO();
    auto* oldSet = io.SetClipboardTextFn;
    io.SetClipboardTextFn = [](void*, const char* text) { logged += text; };
    for (float y = 0; y < height; y += dy)
        for (float x = 5; x < size.x; x += dx) {
            viz::PanelState st;
            io.DisplaySize = size;
            io.DeltaTime = 1.0f / 60.0f;
            io.MousePos = {x, y};
            ImGui::NewFrame();
            ImGui::LogToClipboard();
            viz::drawSingleView(v, run, st);
            ImGui::LogFinish();
            ImGui::Render();
        }
    io.SetClipboardTextFn = oldSet;
    return logged;
}

}  // namespace

class TestPanels : public QObject {
    Q_OBJECT
    ImGuiContext* m_ctx = nullptr;
    viz::RunView m_small;

private Q_SLOTS:
    void initTestCase() {
        m_ctx = viz::createImGuiContext(1.0f);
        // No texture upload happens without a backend; the atlas just needs an id.
        ImGui::GetIO().Fonts->SetTexID(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(1)));
        ImGui::GetIO().BackendFlags |= ImGuiBackendFlags_RendererHasVtxOffset;
        const auto p = viz::testdata::smallProject();
        m_small.project = p;
        m_small.snapshots = viz::testdata::collapsingRun(p);
    }
    void cleanupTestCase() { viz::destroyImGuiContext(m_ctx); }

    void everyViewDrawsSomething() {
        for (viz::View v : viz::kAllViews) {
            viz::PanelState st;
            QVERIFY2(frame(v, m_small, st) > 100, std::string(viz::toString(v)).c_str());
        }
    }

    // The dashboards follow the studio's light theme: dark text on a light background, and
    // back again.
    void lightThemeDrawsDarkText() {
        auto textColours = [&] {
            viz::PanelState st;
            frame(viz::View::Collapse, m_small, st);
            const ImVec4 t = ImGui::GetStyle().Colors[ImGuiCol_Text];
            return t.x + t.y + t.z;
        };
        float bg[4];
        QVERIFY(!viz::dashboardThemeLight());
        viz::dashboardBackground(bg);
        QVERIFY(bg[0] + bg[1] + bg[2] < 0.6f);
        QVERIFY(textColours() > 2.4f);  // light text
        viz::setDashboardTheme(true);
        viz::dashboardBackground(bg);
        QVERIFY(bg[0] + bg[1] + bg[2] > 2.4f);
        QVERIFY(textColours() < 0.6f);  // dark text
        // The panels draw with the theme's text colour (a vertex of that colour exists).
        viz::PanelState st;
        frame(viz::View::Collapse, m_small, st);
        const ImU32 want = ImGui::GetColorU32(ImGuiCol_Text);
        bool found = false;
        const ImDrawData* dd = ImGui::GetDrawData();
        for (int l = 0; l < dd->CmdListsCount; ++l)
            for (const ImDrawVert& v : dd->CmdLists[l]->VtxBuffer) found |= v.col == want;
        viz::setDashboardTheme(false);
        QVERIFY(found);
        QVERIFY(textColours() > 2.4f);
    }

    void heatmapIsOneGridWithoutAGpuFallback() {
        // Without a GridRenderer the cells are ImGui rectangles: 4 vertices each, 64 x 256 of them.
        viz::RunView big;
        big.snapshots = viz::testdata::bigRun(1);
        viz::PanelState st;
        QVERIFY(frame(viz::View::Heatmap, big, st) >= 64 * 256 * 4);
    }

    void tinyWindowsAndHoverEverywhereDoNotCrash() {
        for (viz::View v : viz::kAllViews)
            for (ImVec2 size : {ImVec2{120, 90}, ImVec2{400, 300}, ImVec2{3000, 2000}})
                for (float x = 0; x < size.x; x += size.x / 7)
                    for (float y = 0; y < size.y; y += size.y / 5) {
                        viz::PanelState st;
                        frame(v, m_small, st, size, {x, y});
                    }
    }

    // Every gauge of the collapse monitor and the load chart's legend explain themselves on hover.
    void metricsHaveTooltips() {
        const std::string collapse = textUnderMouse(viz::View::Collapse, m_small, {1600, 900}, 500, 30, 5);
        for (const char* tip : {"one expert taking everything gives sqrt(E - 1)", "ride the residual connection", "equally used experts",
                                "busiest expert", "representation collapse", "router starvation", "well past it (hysteresis)"})
            QVERIFY2(collapse.find(tip) != std::string::npos, tip);
        const std::string load = textUnderMouse(viz::View::Load, m_small, {1600, 900}, 500, 30, 5);
        for (const char* tip : {"load entropy H", "1/(10 E)"}) QVERIFY2(load.find(tip) != std::string::npos, tip);
    }

    // In a dock (520 x 700) the specialisation panels stack, so the similarity matrix gets the
    // full width rather than a corner: its diagonal cells (cosine 1) cover a real area.
    void specialisationUsesANarrowDock() {
        int diagonal = 0;
        for (float y = 0; y < 700; y += 4)
            for (float x = 0; x < 520; x += 4) {
                viz::PanelState st;
                st.block = 1;
                frame(viz::View::Specialisation, m_small, st, {520, 700}, {x, y});
                diagonal += st.hover.valid && st.hover.expert == st.hover.row && st.hover.value == 1.0;
            }
        // 8 experts: a 170-pixel matrix has 8 diagonal cells of about 21 x 21 pixels, about 220
        // samples at this spacing; squeezed beside the class matrix it had well under 100.
        QVERIFY2(diagonal > 130, qPrintable(QString("similarity diagonal under the mouse at %1 samples").arg(diagonal)));
    }

    // In a dock 420 pixels wide the controls wrap instead of running past the edge: the time
    // scrubber can be reached with the mouse in every view that has a block picker.
    void controlsWrapInANarrowDock() {
        for (viz::View v : {viz::View::Heatmap, viz::View::Load, viz::View::Specialisation, viz::View::RoutingMap})
            QVERIFY2(textUnderMouse(v, m_small, {420, 700}, 200, 20, 6).find("Drag to scrub through the run") != std::string::npos,
                     std::string(viz::toString(v)).c_str());
    }

    void malformedSnapshotsDoNotCrash() {
        auto s = std::make_shared<telemetry::RoutingSnapshot>(*m_small.snapshots.back());
        for (auto& b : s->blocks) {
            b.tokensPerExpert.resize(1);             // shorter than experts
            b.meanGateProb.clear();
            b.similarity.resize(3);                  // not n x n
            b.classExpert.resize(2);                 // not classes x experts
            b.routingMap.assign(b.routingMap.size(), 999);  // experts that do not exist
            b.tokensPerExpert.push_back(std::nan("")); // not finite
            b.dropped = -5;
            b.probeK = 2;                            // per-token probe: experts that do not exist, gates missing
            b.probeExperts = {0, 999, -1, -7, 3, 1};
            b.probeGates = {0.5f};
        }
        s->probeTokens = {65, 10, 200};
        s->blocks.front().probeExperts.resize(5);    // not tokens x k
        s->mapXMin = s->mapXMax = 0;                 // empty plane
        s->mapPoints = {1.0f, 2.0f};                 // not a whole triplet
        viz::RunView bad;
        bad.snapshots = {s};
        for (viz::View v : viz::kAllViews) {
            viz::PanelState st;
            st.block = 99;                           // out of range
            st.snapshotIndex = 42;                   // out of range
            st.expertBegin = 5;
            st.expertEnd = 3;                        // inverted
            QVERIFY(frame(v, bad, st, {1000, 700}, {500, 350}) > 0);
        }
    }

    void emptyRunsExplainThemselves() {
        viz::RunView empty;
        empty.projectError = "the run store holds no project";
        for (viz::View v : viz::kAllViews) {
            viz::PanelState st;
            QVERIFY(frame(v, empty, st) > 20);  // the message box and its text
        }
    }
};

QTEST_APPLESS_MAIN(TestPanels)
#include "tst_panels.moc"
