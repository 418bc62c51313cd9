// The Cluster planner dock under the offscreen platform: its controls edit the project's
// deployment (undoably), a dragged expert gives an explicit placement the resolver accepts, the
// figures it shows are the simulator's own, invalid settings show the resolver's message, and the
// newest run of the project can feed the routing. Deployments are kept small so the simulations
// take milliseconds.
#include <QComboBox>
#include <QLabel>
#include <QMouseEvent>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

#include "cluster_planner.h"
#include "cluster_planner_layouts.h"
#include "moe/cluster/plan.h"
#include "document.h"
#include "moe/cluster/simulate.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"
#include "placement_view.h"
#include "run_fixture.h"
#include "test_time.h"

using namespace moe::studio;
namespace spec = moe::spec;
namespace cl = moe::cluster;
namespace tel = moe::telemetry;

namespace {

const int kSimTimeoutMs = test_time::scaled(60000);

// projects/llm_mi300x.json cut down to 5 layers (4 MoE) and 16 GPUs (two MI300X nodes).
QString writeSmallLlm(const QString& dir) {
    auto p = spec::loadProject(MOE_SOURCE_DIR "/projects/llm_mi300x.json");
    if (!p) qFatal("%s", p.message().c_str());
    auto& g = p->model.blocks.front();
    g.repeat = 5;
    g.firstDense = 1;
    auto& d = *p->deployment;
    d.gpus = 16;
    d.ep = 16;
    d.dp = 1;
    d.tokensPerGpu = 1024;
    const QString path = dir + "/small_llm.json";
    const std::string err = spec::saveProject(p.value(), path.toStdString());
    if (!err.empty()) qFatal("%s", err.c_str());
    return path;
}

const cl::Catalog& catalog() {
    static const cl::Catalog c = [] {
        auto r = cl::Catalog::loadDefault();
        if (!r) qFatal("%s", r.message().c_str());
        return r.value();
    }();
    return c;
}

// What the simulator says for the document's deployment, called directly.
cl::StepResult direct(const spec::Project& p, bool training, int micro, const QString& projectDir = {}) {
    auto d = cl::resolveDeployment(p, catalog());
    if (!d) qFatal("%s", d.message().c_str());
    if (d->routing.kind == cl::RoutingKind::Recorded && !QFileInfo(QString::fromStdString(d->routing.path)).isAbsolute())
        d->routing.path = QDir(projectDir).absoluteFilePath(QString::fromStdString(d->routing.path)).toStdString();
    auto loads = cl::deploymentLoads(d.value(), nullptr);
    if (!loads) qFatal("%s", loads.message().c_str());
    cl::SimOptions o;
    o.training = training;
    o.microBatches = micro;
    auto r = cl::simulateStep(d.value(), catalog(), loads.value(), o);
    if (!r) qFatal("%s", r.message().c_str());
    return r.value();
}

bool waitForResult(ClusterPlanner& planner) {
    return QTest::qWaitFor([&] { return !planner.simulating() && planner.lastResult() != nullptr; }, kSimTimeoutMs);
}

// A run store of the classroom project: two MoE blocks of 4 experts, block 0 leaning on expert 2.
QString writeRun(const QString& dir, const spec::Project& p) {
    QDir().mkpath(dir);
    return testing::writeRunStore(dir + "/run_1.sqlite", p, 2, [](int i, tel::RoutingSnapshot& s) {
        s.step = i * 10;
        s.loss = 1.0;
        s.accuracy = 0.5;
        s.blocks.push_back(testing::blockLoad(0, {10, 10, 70, 10}));
        s.blocks.push_back(testing::blockLoad(1, {25, 25, 25, 25}));
    });
}

void sendMouse(QWidget* w, QEvent::Type type, QPoint pos, Qt::MouseButtons buttons) {
    QMouseEvent e(type, QPointF(pos), w->mapToGlobal(QPointF(pos)), type == QEvent::MouseMove ? Qt::NoButton : Qt::LeftButton, buttons,
                  Qt::NoModifier);
    QCoreApplication::sendEvent(w, &e);
}

}  // namespace

class TestPlanner : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;

private Q_SLOTS:
    void showsTheCatalogClusters() {
        ProjectDocument doc;
        ClusterPlanner planner(&doc);
        QStringList expected;
        for (const auto& c : catalog().clusters()) expected << QString::fromStdString(c.name);
        QVERIFY(!expected.isEmpty());
        QCOMPARE(planner.clusterNames(), expected);
    }

    void controlsEditTheProjectAndUndoRestoresIt() {
        ProjectDocument doc;
        QString err;
        QVERIFY2(doc.open(writeSmallLlm(m_dir.path()), &err), qPrintable(err));
        ClusterPlanner planner(&doc);
        QVERIFY(!planner.derived());
        auto* gpus = planner.findChild<QSpinBox*>("gpus");
        auto* ep = planner.findChild<QSpinBox*>("ep");
        QVERIFY(gpus && ep);
        QCOMPARE(gpus->value(), 16);

        gpus->setValue(32);
        QCOMPARE(doc.project().deployment->gpus, 32);
        ep->setValue(32);
        QCOMPARE(doc.project().deployment->ep, 32);
        QVERIFY2(planner.errorText().isEmpty(), qPrintable(planner.errorText()));
        QVERIFY(waitForResult(planner));
        QCOMPARE(planner.lastResult()->deployment.gpus, 32);
        QCOMPARE(planner.lastResult()->deployment.ep, 32);

        doc.undoStack()->undo();
        QCOMPARE(doc.project().deployment->ep, 16);
        QCOMPARE(ep->value(), 16);
        doc.undoStack()->undo();
        QCOMPARE(doc.project().deployment->gpus, 16);
        QCOMPARE(gpus->value(), 16);
        QVERIFY(!doc.isModified());
    }

    void invalidSettingsShowTheResolversMessage() {
        ProjectDocument doc;
        QString err;
        QVERIFY2(doc.open(writeSmallLlm(m_dir.path()), &err), qPrintable(err));
        ClusterPlanner planner(&doc);
        planner.findChild<QSpinBox*>("ep")->setValue(12);  // divides neither the 16 GPUs nor the 256 experts
        auto resolved = cl::resolveDeployment(doc.project(), catalog());
        QVERIFY(!resolved.ok());
        for (const auto& d : resolved.errors()) {
            QVERIFY2(planner.errorText().contains(QString::fromStdString(d.message)), qPrintable(planner.errorText()));
            QVERIFY(planner.errorText().contains(QString::fromStdString(d.path)));
        }
        QVERIFY(planner.errorText().contains("ep must divide 256"));
        // No figures for an invalid deployment, and none arrive later.
        QCOMPARE(planner.figure("step"), QStringLiteral("—"));
        QTest::qWait(400);
        QCOMPARE(planner.figure("step"), QStringLiteral("—"));
        QVERIFY(!planner.lastResult());
        doc.undoStack()->undo();
        QVERIFY(planner.errorText().isEmpty());
    }

    void figuresAreTheSimulatorsOwn() {
        ProjectDocument doc;
        QString err;
        QVERIFY2(doc.open(writeSmallLlm(m_dir.path()), &err), qPrintable(err));
        ClusterPlanner planner(&doc);
        QVERIFY(doc.edit("zipf", [](spec::Project& p) { p.deployment->routing = "zipf:1.2"; }).isEmpty());
        planner.setSimulationMode(true, 2);
        QVERIFY(waitForResult(planner));
        const cl::StepResult want = direct(doc.project(), true, 2);
        const auto got = planner.lastResult();
        QCOMPARE(got->stepUs, want.stepUs);
        QCOMPARE(got->stragglerRank, want.stragglerRank);
        QCOMPARE(planner.figure("step"), ClusterPlanner::formatMs(want.stepUs));
        QCOMPARE(planner.figure("forward"), ClusterPlanner::formatMs(want.forwardUs));
        QCOMPARE(planner.figure("backward"), ClusterPlanner::formatMs(want.backwardUs));
        QCOMPARE(planner.figure("gradSync"), ClusterPlanner::formatMs(want.gradSyncUs));
        QVERIFY(planner.figure("compute").startsWith(ClusterPlanner::formatMs(want.computeUs)));
        QVERIFY(planner.figure("exposed").startsWith(ClusterPlanner::formatMs(want.exposedCommUs)));
        if (want.stragglerRank >= 0) {
            QVERIFY(planner.figure("straggler").startsWith(QStringLiteral("GPU %1 ").arg(want.stragglerRank)));
            QVERIFY(planner.figure("straggler").contains(QStringLiteral("in %1 of").arg(want.stragglerLayers)));
        }
        auto* links = planner.findChild<QTableWidget*>("hotLinks");
        auto* layers = planner.findChild<QTableWidget*>("layerTable");
        QVERIFY(links && layers);
        QVERIFY(!want.links.empty());
        QCOMPARE(links->item(0, 0)->text(), QString::fromStdString(cl::groupHotLinks(want, 8)[0].name));
        QCOMPARE(layers->rowCount(), static_cast<int>(want.layers.size()));
        QCOMPARE(layers->item(0, 1)->text(), ClusterPlanner::formatMs(want.layers[0].dispatchUs));
        // zipf makes some experts hot: the chips carry the loads that were simulated.
        const auto& m = planner.placementView()->model();
        QCOMPARE(static_cast<int>(m.meanLoad.size()), 256);
        QVERIFY(*std::max_element(m.meanLoad.begin(), m.meanLoad.end()) > 2.0 / 256);

        // Forward only: a new request; its result replaces the training one.
        planner.setSimulationMode(false, 1);
        QVERIFY(planner.simulating());
        QVERIFY(waitForResult(planner));
        const cl::StepResult fwd = direct(doc.project(), false, 1);
        QCOMPARE(planner.lastResult()->stepUs, fwd.stepUs);
        QCOMPARE(planner.figure("step"), ClusterPlanner::formatMs(fwd.stepUs));
    }

    void aStaleResultIsDropped() {
        ProjectDocument doc;
        QString err;
        QVERIFY2(doc.open(writeSmallLlm(m_dir.path()), &err), qPrintable(err));
        ClusterPlanner planner(&doc);
        QSignalSpy spy(&planner, &ClusterPlanner::simulated);
        auto* tokens = planner.findChild<QSpinBox*>("tokensPerGpu");
        for (int t : {512, 2048, 3072}) tokens->setValue(t);
        QVERIFY(waitForResult(planner));
        QCOMPARE(planner.lastResult()->deployment.tokensPerGpu, 3072);
        QTest::qWait(500);
        QCOMPARE(planner.lastResult()->deployment.tokensPerGpu, 3072);
        for (const auto& call : spy) QVERIFY(call.at(0).toBool());
    }

    void draggingAnExpertGivesAnExplicitPlacement() {
        ProjectDocument doc;
        QString err;
        QVERIFY2(doc.open(writeSmallLlm(m_dir.path()), &err), qPrintable(err));
        ClusterPlanner planner(&doc);
        planner.resize(520, 900);
        planner.show();
        QVERIFY(QTest::qWaitForWindowExposed(&planner));

        planner.moveExpert(5, 0);  // round-robin: expert 5 is on rank 5
        const auto& pl = doc.project().deployment->placement;
        QVERIFY(!pl.roundRobin);
        QCOMPARE(static_cast<int>(pl.gpuExperts.size()), 16);
        QVERIFY(std::count(pl.gpuExperts[0].begin(), pl.gpuExperts[0].end(), 5) == 1);
        QVERIFY(std::count(pl.gpuExperts[5].begin(), pl.gpuExperts[5].end(), 5) == 0);
        auto resolved = cl::resolveDeployment(doc.project(), catalog());
        QVERIFY2(resolved.ok(), resolved.message().c_str());
        QCOMPARE(resolved->placement[0].size(), size_t(17));

        // The same through the mouse: expert 7 onto rank 3.
        PlacementView* view = planner.placementView();
        QTRY_VERIFY(!view->chipRect(7).isNull());
        const QPoint from = view->chipRect(7).center(), to = view->rankRect(3).center();
        sendMouse(view, QEvent::MouseButtonPress, from, Qt::LeftButton);
        sendMouse(view, QEvent::MouseMove, (from + to) / 2, Qt::LeftButton);
        sendMouse(view, QEvent::MouseMove, to, Qt::LeftButton);
        sendMouse(view, QEvent::MouseButtonRelease, to, Qt::NoButton);
        const auto& pl2 = doc.project().deployment->placement.gpuExperts;
        QVERIFY(std::count(pl2[3].begin(), pl2[3].end(), 7) == 1);
        QVERIFY(cl::resolveDeployment(doc.project(), catalog()).ok());

        // Round-robin restores the default; undo brings the moves back.
        planner.findChild<QPushButton*>("roundRobin")->click();
        QVERIFY(doc.project().deployment->placement.roundRobin);
        doc.undoStack()->undo();
        QVERIFY(!doc.project().deployment->placement.roundRobin);
        QVERIFY(waitForResult(planner));
        QCOMPARE(planner.lastResult()->ranks[0].experts.size(), size_t(17));
    }

    void aDerivedDeploymentIsWrittenOnTheFirstChange() {
        ProjectDocument doc;
        QString err;
        QVERIFY2(doc.open(MOE_SOURCE_DIR "/projects/classroom_spirals.json", &err), qPrintable(err));
        QVERIFY(!doc.project().deployment);
        ClusterPlanner planner(&doc);
        QVERIFY(planner.derived());
        QVERIFY(!planner.findChild<QLabel*>("derivedNote")->isHidden());
        auto derived = cl::resolveDeployment(doc.project(), catalog());
        QVERIFY(derived.ok());
        QCOMPARE(planner.findChild<QSpinBox*>("ep")->value(), derived->ep);
        QVERIFY(waitForResult(planner));
        QCOMPARE(planner.figure("step"), ClusterPlanner::formatMs(direct(doc.project(), true, 1).stepUs));

        planner.findChild<QSpinBox*>("tokensPerGpu")->setValue(2048);
        QVERIFY(doc.project().deployment);
        QCOMPARE(doc.project().deployment->tokensPerGpu, 2048);
        QCOMPARE(doc.project().deployment->ep, derived->ep);
        QCOMPARE(doc.project().deployment->dp, derived->dp);
        QVERIFY(!planner.derived());
        QVERIFY(cl::resolveDeployment(doc.project(), catalog()).ok());
        doc.undoStack()->undo();
        QVERIFY(!doc.project().deployment);
        QVERIFY(planner.derived());
    }

    void theLatestRunFeedsTheRouting() {
        ProjectDocument doc;
        QString err;
        const QString projectPath = m_dir.filePath("classroom.json");
        QVERIFY(QFile::copy(MOE_SOURCE_DIR "/projects/classroom_spirals.json", projectPath));
        QVERIFY2(doc.open(projectPath, &err), qPrintable(err));
        const QString runDir = m_dir.filePath("runs/classroom");
        writeRun(runDir, doc.project());
        ClusterPlanner planner(&doc);
        planner.setRunDir(runDir);
        auto* routing = planner.findChild<QComboBox*>("routing");
        const int latest = routing->findData("latest");
        QVERIFY(latest >= 0);
        routing->setCurrentIndex(latest);
        Q_EMIT routing->activated(latest);
        QCOMPARE(QString::fromStdString(doc.project().deployment->routing), QStringLiteral("runs/classroom/run_1.sqlite"));
        QVERIFY(waitForResult(planner));
        QVERIFY2(planner.errorText().isEmpty(), qPrintable(planner.errorText()));
        const cl::StepResult want = direct(doc.project(), true, 1, m_dir.path());
        QCOMPARE(planner.lastResult()->stepUs, want.stepUs);
        // Block 0 sent 70% of its tokens to expert 2: that chip is the hottest.
        const auto& loads = planner.lastLoads();
        QCOMPARE(loads.size(), size_t(2));
        QVERIFY(qAbs(loads[0][2] - 0.7) < 1e-9);
        const auto& m = planner.placementView()->model();
        QCOMPARE(std::max_element(m.meanLoad.begin(), m.meanLoad.end()) - m.meanLoad.begin(), 2);
        QVERIFY(planner.placementView()->chipToolTip(2).contains("Expert 2"));
    }

    // The Layouts tab: the deployment's layout priced as `moe cost` prices it, the planner's rows
    // as `moe plan` ranks them, a row applied as one undoable edit, tooltips on every figure.
    void layoutsTabPlansAndAppliesWithUndo() {
        ProjectDocument doc;
        QString err;
        QVERIFY2(doc.open(MOE_SOURCE_DIR "/tests/data/cluster/mixtral_8x7b.json", &err), qPrintable(err));
        ClusterPlanner planner(&doc);
        LayoutPlanPanel* panel = planner.layoutPanel();
        QVERIFY(panel);
        const auto cost = cl::costProjectLayout(doc.project(), catalog(), cl::PlanOptions{});
        QVERIFY2(cost.ok(), cost.message().c_str());
        QVERIFY(QTest::qWaitFor([&] { return panel->currentText().contains("GiB per GPU"); }, kSimTimeoutMs));
        QVERIFY2(panel->currentText().contains(QStringLiteral("step %1 ms").arg(QString::number(cost->step.stepUs / 1000.0, 'f', 0))),
                 qPrintable(panel->currentText()));
        QVERIFY(panel->currentText().contains(cost->memory.fits ? "fits" : "does NOT fit"));
        QVERIFY(panel->currentText().contains("not modelled"));

        auto* gpus = panel->findChild<QSpinBox*>("planGpus");
        QVERIFY(gpus);
        QCOMPARE(gpus->value(), 64);
        QSignalSpy planned(panel, &LayoutPlanPanel::planned);
        panel->startPlan();
        QVERIFY(QTest::qWaitFor([&] { return !planned.isEmpty(); }, kSimTimeoutMs));
        QCOMPARE(planned.first().first().toBool(), true);
        cl::PlanOptions o;
        o.gpus = 64;
        const auto direct = cl::planLayouts(doc.project(), catalog(), o);
        QVERIFY(direct.ok());
        const auto shown = panel->plan();
        QVERIFY(shown && !shown->rows.empty());
        QCOMPARE(shown->rows.size(), direct->rows.size());
        QCOMPARE(shown->rows[0].step.stepUs, direct->rows[0].step.stepUs);
        QCOMPARE(panel->table()->rowCount(), static_cast<int>(shown->rows.size()));
        for (int r = 0; r < panel->table()->rowCount(); ++r)
            for (int c = 0; c < panel->table()->columnCount(); ++c) QVERIFY(!panel->table()->item(r, c)->toolTip().isEmpty());
        QVERIFY(panel->findChild<QLabel*>("layoutDetails")->text().contains("GiB per GPU"));
        for (const char* f : {"step", "forward", "backward", "gradSync", "compute", "exposed", "straggler", "memory"})
            QVERIFY2(!planner.findChild<QLabel*>(f)->toolTip().isEmpty(), f);

        const std::string before = spec::serializeProject(doc.project());
        const cl::Layout chosen = shown->rows[1].layout;
        QVERIFY(panel->applyRow(1));
        const auto& d = *doc.project().deployment;
        QCOMPARE(d.tp, chosen.tp);
        QCOMPARE(d.pp, chosen.pp);
        QCOMPARE(d.ep, chosen.ep);
        QCOMPARE(d.zero, chosen.zero);
        QCOMPARE(d.microBatch, chosen.microBatch);
        doc.undoStack()->undo();
        QCOMPARE(spec::serializeProject(doc.project()), before);
    }

    void layoutsTabNamesABadLayoutAsTheCliDoes() {
        auto p = spec::loadProject(MOE_SOURCE_DIR "/tests/data/cluster/qwen3_235b_a22b.json");
        QVERIFY(p.ok());
        p->deployment->tp = 8;
        const QString path = m_dir.filePath("qwen_tp8.json");
        QVERIFY(spec::saveProject(p.value(), path.toStdString()).empty());
        ProjectDocument doc;
        QString err;
        QVERIFY2(doc.open(path, &err), qPrintable(err));
        ClusterPlanner planner(&doc);
        LayoutPlanPanel* panel = planner.layoutPanel();
        QVERIFY(QTest::qWaitFor([&] { return !panel->errorText().isEmpty(); }, kSimTimeoutMs));
        const auto direct = cl::costProjectLayout(doc.project(), catalog(), cl::PlanOptions{});
        QVERIFY(!direct.ok());
        QVERIFY(panel->errorText().contains(QString::fromStdString(direct.errors()[0].message)));
        QVERIFY(panel->errorText().contains("deployment.parallel.tp"));
        QVERIFY(panel->errorText().contains("valid: 1, 2, 4"));
    }
};

QTEST_MAIN(TestPlanner)
#include "tst_planner.moc"
