// The main window under the offscreen platform: validation messages select their block, broken
// files change nothing, autosave and save manage the recovery file, past runs reopen, compare
// and replay onto the canvas, classroom mode and themes switch.
#include <QDialog>
#include <QRegularExpression>
#include <QCheckBox>
#include <QChartView>
#include <QComboBox>
#include <QLogValueAxis>
#include <QDockWidget>
#include <QPushButton>
#include <QToolBar>
#include <QToolButton>
#include <QTextBrowser>
#include <QLabel>
#include <QListWidget>
#include <QSignalSpy>
#include <QSlider>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

#include "canvas.h"
#include "document.h"
#include "inspector.h"
#include "main_window.h"
#include "messages_panel.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"
#include "run_fixture.h"
#include "run_panel.h"
#include "scenario_panel.h"
#include "theme.h"
#include "test_time.h"

using namespace moe::studio;
namespace spec = moe::spec;
namespace tel = moe::telemetry;

namespace {

// A run store with `n` snapshots of a 4-expert block 1, its load drifting onto expert 0.
QString writeRun(const QString& dir, const QString& name, int n, const spec::Project& p) {
    return testing::writeRunStore(dir + "/" + name + ".sqlite", p, n, [](int i, tel::RoutingSnapshot& s) {
        s.step = i * 10;
        s.loss = 1.0 / i;
        s.taskLoss = s.loss;
        s.accuracy = 0.5 + 0.04 * i;
        const double hot = 25.0 + 7.0 * i;
        s.blocks.push_back(testing::blockLoad(1, {hot, (100 - hot) / 3, (100 - hot) / 3, (100 - hot) / 3}));
    });
}

}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;

private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    void clickingAProblemSelectsItsBlock() {
        MainWindow w(false, m_dir.filePath("recovery1"));
        w.show();
        ProjectDocument* doc = w.document();
        QVERIFY(doc->edit("k", [](spec::Project& p) { p.model.blocks[1].router.k = 9; }).isEmpty());
        QListWidget* list = w.messages();
        QListWidgetItem* problem = nullptr;
        for (int i = 0; i < list->count(); ++i)
            if (list->item(i)->text().contains("model.blocks[1].router.k")) problem = list->item(i);
        QVERIFY(problem);
        QVERIFY(problem->text().contains("exceeds"));
        Q_EMIT list->itemClicked(problem);
        QCOMPARE(w.scene()->selectedBlocks(), std::vector<BlockId>{doc->idAt(1)});
        QVERIFY(w.inspector()->messageFor("model.blocks[1].router.k").contains("exceeds"));
        // For people reviewing the look of the validation display.
        w.resize(1500, 920);
        QVERIFY(w.grab().save(QStringLiteral(MOE_BINARY_DIR "/tests/studio/studio_invalid_offscreen.png")));
        // Training refuses an invalid model and says why.
        QString err;
        QVERIFY(!w.train(0, &err));
        QVERIFY(!err.isEmpty());
    }

    void openingABrokenFileKeepsTheWork() {
        MainWindow w(false, m_dir.filePath("recovery2"));
        ProjectDocument* doc = w.document();
        doc->insertBlock(0, ProjectDocument::defaultDenseBlock());
        const std::string before = spec::serializeProject(doc->project());
        QFile f(m_dir.filePath("bad.json"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{ \"format\": \"moe-studio/1\", ");
        f.close();
        QString err;
        QVERIFY(!w.openFile(f.fileName(), &err));
        QVERIFY2(err.contains("not valid JSON"), qPrintable(err));
        QCOMPARE(spec::serializeProject(doc->project()), before);
        QVERIFY(doc->isModified());
    }

    void autosaveThenSaveDiscardsRecovery() {
        const QString rdir = m_dir.filePath("recovery3");
        MainWindow w(false, rdir);
        w.document()->insertBlock(0, ProjectDocument::defaultMoeBlock());
        QVERIFY(w.autosaveNow());
        QVERIFY(w.recovery()->hasFile());
        auto r = RecoveryStore::read(w.recovery()->filePath());
        QVERIFY2(r.ok(), r.message().c_str());
        QCOMPARE(r->model.blocks.size(), size_t(3));
        QString err;
        QVERIFY2(w.saveTo(m_dir.filePath("saved.json"), &err), qPrintable(err));
        QVERIFY(!w.recovery()->hasFile());
        QVERIFY(!w.document()->isModified());
        QVERIFY(w.recentFiles().contains(QFileInfo(m_dir.filePath("saved.json")).absoluteFilePath()));
        QVERIFY(w.runDir().contains("/runs/saved-"));
    }

    void pastRunsReopenCompareAndReplay() {
        MainWindow w(false, m_dir.filePath("recovery4"));
        w.show();
        const spec::Project p = w.document()->project();
        const QString a = writeRun(m_dir.path(), "run_a", 6, p);
        const QString b = writeRun(m_dir.path(), "run_b", 4, p);
        RunPanel* run = w.runPanel();
        QString err;
        QVERIFY2(run->openRun(a, &err), qPrintable(err));
        QCOMPARE(run->liveCurvePoints(), 6);
        QVERIFY(!run->compareRun(a, &err));  // not with itself
        QVERIFY2(err.contains("the opened run"), qPrintable(err));
        QVERIFY2(run->compareRun(b, &err), qPrintable(err));
        QCOMPARE(run->compareCurvePoints(), 4);
        QVERIFY2(run->comparisonText().contains("the same project"), qPrintable(run->comparisonText()));
        QCOMPARE(run->liveCurvePoints(), 6);
        // Opening replays the last step onto the canvas: expert 0 took 67 of 100 tokens.
        QTRY_VERIFY(w.scene()->itemFor({ItemRef::Block, w.document()->idAt(1)})->hasLoads());
        const auto& tiles = w.scene()->itemFor({ItemRef::Block, w.document()->idAt(1)})->tiles();
        QCOMPARE(tiles[0].load, 0.67 * 4);
        // Scrub back to the first snapshot.
        auto* slider = run->findChild<QSlider*>();
        QVERIFY(slider && slider->isEnabled());
        slider->setValue(0);
        QCOMPARE(w.scene()->itemFor({ItemRef::Block, w.document()->idAt(1)})->tiles()[0].load, 0.32 * 4);
        // Runs take a name and notes, kept in their store and shown in the lists.
        QVERIFY2(run->labelOpenedRun("drifting", "expert 0 takes over", &err), qPrintable(err));
        QCOMPARE(QString::fromStdString(tel::RunReader::readInfo(a.toStdString())->name), QStringLiteral("drifting"));
        QCOMPARE(RunPanel::runLabel(run->openedRun()->info()), QStringLiteral("drifting · run_a"));
        QVERIFY(!run->openRun(m_dir.filePath("nothing.sqlite"), &err));
        QVERIFY(err.contains("nothing.sqlite"));

        // The run pickers read the store on a worker thread; the newest pick wins.
        QSignalSpy opened(run, &RunPanel::runOpened);
        run->openRunAsync(a);
        run->openRunAsync(b);
        QTRY_COMPARE(opened.count(), 1);
        QCOMPARE(run->liveCurvePoints(), 4);
        QCOMPARE(QString::fromStdString(run->openedRun()->info().runId), QStringLiteral("run_b"));
        QSignalSpy messages(run, &RunPanel::message);
        run->openRunAsync(m_dir.filePath("nothing.sqlite"));
        QTRY_COMPARE(messages.count(), 1);
        QVERIFY(messages.front().front().toString().contains("nothing.sqlite"));
        QCOMPARE(QString::fromStdString(run->openedRun()->info().runId), QStringLiteral("run_b"));
    }

    void aProjectChangeForgetsTheRuns() {
        MainWindow w(false, m_dir.filePath("recovery8"));
        w.show();
        const QString a = writeRun(m_dir.path(), "run_forget", 6, w.document()->project());
        const QString b = writeRun(m_dir.path(), "run_forget_b", 3, w.document()->project());
        RunPanel* run = w.runPanel();
        QString err;
        QVERIFY2(run->openRun(a, &err), qPrintable(err));
        QVERIFY2(run->compareRun(b, &err), qPrintable(err));
        QTRY_VERIFY(w.scene()->itemFor({ItemRef::Block, w.document()->idAt(1)})->hasLoads());
        // File > New: the same block layout, but nothing of the old run may show.
        w.document()->newProject();
        QCOMPARE(run->liveCurvePoints(), 0);
        QCOMPARE(run->compareCurvePoints(), 0);
        QVERIFY(!run->openedRun());
        QVERIFY(!run->findChild<QSlider*>()->isEnabled());
        for (BlockId id : w.document()->blockIds())
            if (NodeItem* it = w.scene()->itemFor({ItemRef::Block, id})) QVERIFY(!it->hasLoads());
        QCOMPARE(w.training()->status().state, RunStatus::Idle);
        // A scenario opened afterwards starts just as clean.
        QVERIFY2(run->openRun(a, &err), qPrintable(err));
        QVERIFY2(w.openFile(QStringLiteral(MOE_SOURCE_DIR "/projects/classroom_spirals.json"), &err), qPrintable(err));
        QCOMPARE(run->liveCurvePoints(), 0);
        QVERIFY(!run->openedRun());
        for (BlockId id : w.document()->blockIds())
            if (NodeItem* it = w.scene()->itemFor({ItemRef::Block, id})) QVERIFY(!it->hasLoads());
    }

    // The collapse lesson's loss chart: the task loss, and the balancing losses apart (turning
    // the aux loss on must not look like the model got worse).
    void lossChartPlotsTaskLossApart() {
        MainWindow w(false, m_dir.filePath("recovery14"));
        const QString run = testing::writeRunStore(m_dir.filePath("aux_run.sqlite"), w.document()->project(), 3, [](int i, tel::RoutingSnapshot& s) {
            s.step = i * 10;
            s.taskLoss = 0.5 / i;
            s.loss = s.taskLoss + 0.2;  // weighted aux + z
            s.blocks.push_back(testing::blockLoad(1, {25, 25, 25, 25}));
        });
        QString err;
        QVERIFY2(w.runPanel()->openRun(run, &err), qPrintable(err));
        const auto task = w.runPanel()->liveTaskLoss(), balance = w.runPanel()->liveBalancingLoss();
        QCOMPARE(task.size(), 3);
        QCOMPARE(task[1].y(), 0.25);
        QCOMPARE(balance.size(), 3);
        QVERIFY(std::abs(balance[2].y() - 0.2) < 1e-12);
    }

    // The loss chart's log scale: the checkbox swaps the axis; a curve with zeros (no balancing
    // loss) cannot be drawn on it and is hidden, then shown again on the linear scale.
    void lossChartHasALogScale() {
        MainWindow w(false, m_dir.filePath("recovery14b"));
        w.show();
        const QString run = testing::writeRunStore(m_dir.filePath("log_run.sqlite"), w.document()->project(), 4, [](int i, tel::RoutingSnapshot& s) {
            s.step = (i + 1) * 10;
            s.taskLoss = 2.0 / std::pow(10.0, i);  // falls by a decade a step
            s.loss = s.taskLoss;                    // no balancing loss
            s.blocks.push_back(testing::blockLoad(1, {25, 25, 25, 25}));
        });
        QString err;
        RunPanel* panel = w.runPanel();
        QVERIFY2(panel->openRun(run, &err), qPrintable(err));
        auto* box = panel->findChild<QCheckBox*>("lossLogScale");
        QVERIFY(box && box->isVisible());
        QVERIFY(!panel->lossLogScale());
        box->click();
        QVERIFY(panel->lossLogScale());
        auto* logAxis = panel->findChild<QChartView*>("lossChart")->chart()->axes(Qt::Vertical).value(0);
        QVERIFY(logAxis && logAxis->type() == QAbstractAxis::AxisTypeLogValue);
        auto* la = static_cast<QLogValueAxis*>(logAxis);
        double lo = 1e300, hi = 0;
        for (const QPointF& p : panel->liveTaskLoss()) lo = std::min(lo, p.y()), hi = std::max(hi, p.y());
        QVERIFY(hi / lo > 999);  // three decades
        QVERIFY2(la->min() <= lo && la->max() >= hi && la->max() <= hi * 10.5, qPrintable(QString("%1..%2").arg(la->min()).arg(la->max())));
        QVERIFY(panel->lossCurveShown(0));
        QVERIFY(!panel->lossCurveShown(1));  // all zeros
        box->click();
        QVERIFY(!panel->lossLogScale());
        QVERIFY(panel->lossCurveShown(1));
        QCOMPARE(panel->findChild<QChartView*>("lossChart")->chart()->axes(Qt::Vertical).value(0)->type(), QAbstractAxis::AxisTypeValue);
    }

    // Classroom mode is a presenter layout: the guide, the canvas and the dashboards dock; the run
    // dock without past-run pickers, training at a watchable pace.
    void classroomIsAPresenterLayout() {
        MainWindow w(false, m_dir.filePath("recovery15"));
        w.resize(1280, 800);
        w.show();
        w.setClassroom(true);
        QVERIFY(w.findChild<QDockWidget*>("dashboardsDock")->isVisible());
        QVERIFY(!w.findChild<QDockWidget*>("inspectorDock")->isVisible());
        QVERIFY(!w.findChild<QComboBox*>("pastRuns")->isVisible());
        QCOMPARE(w.runPanel()->speed(), kClassroomSpeed);
        QVERIFY(w.findChild<QPushButton*>("resetScenario"));
        // At 1280 x 800 the window fits the screen it was given: no dock forces it wider.
        QApplication::processEvents();
        QVERIFY2(w.minimumSizeHint().width() <= 1280, qPrintable(QString::number(w.minimumSizeHint().width())));
        w.setClassroom(false);
        QCOMPARE(w.runPanel()->speed(), 0.0);
        QVERIFY(w.findChild<QComboBox*>("pastRuns")->isVisible());
    }

    void classroomAndThemes() {
        MainWindow w(false, m_dir.filePath("recovery5"));
        w.show();
        w.setClassroom(true);
        QVERIFY(w.classroom());
        QVERIFY(w.findChild<QDockWidget*>("scenarioDock")->isVisible());
        QVERIFY(!w.findChild<QDockWidget*>("paletteDock")->isVisible());
        w.setTheme(Theme::Dark);
        QCOMPARE(currentTheme(), Theme::Dark);
        w.setClassroom(false);
        QVERIFY(w.findChild<QDockWidget*>("paletteDock")->isVisible());
        w.setTheme(Theme::Light);
    }

    void scenarioStepAppliesItsEditsThroughCore() {
        MainWindow w(false, m_dir.filePath("recovery7"));
        const QString copy = m_dir.filePath("classroom_spirals.json");
        QVERIFY(QFile::copy(QStringLiteral(MOE_SOURCE_DIR "/projects/classroom_spirals.json"), copy));
        QString err;
        QVERIFY2(w.openFile(copy, &err), qPrintable(err));
        const auto& sc = w.document()->project().scenario;
        QVERIFY(sc && sc->steps.size() == 4);
        QCOMPARE(w.document()->project().model.blocks[0].losses.aux, 0.05);
        auto* panel = w.findChild<ScenarioPanel*>();
        QVERIFY(panel);
        panel->setCurrentStep(3);
        Q_EMIT panel->runStepRequested(3);  // "Take away balance": aux -> 0 on every block, then train
        QCOMPARE(w.document()->project().model.blocks[0].losses.aux, 0.0);
        QCOMPARE(w.document()->project().model.blocks[1].losses.aux, 0.0);
        // An overlay: nothing to undo, nothing to save, and Reset scenario takes it away.
        QCOMPARE(w.document()->undoStack()->count(), 0);
        QVERIFY(!w.document()->isModified());
        QVERIFY(w.document()->hasScenarioOverlay());
        // Runs go to the per-user data folder, never beside the project.
        const QString data = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation);
        QVERIFY2(w.runDir().startsWith(data + "/runs/classroom_spirals-"), qPrintable(w.runDir()));
        QVERIFY(!w.runDir().startsWith(m_dir.path()));
        QVERIFY(MainWindow::runDirFor(copy) != MainWindow::runDirFor(QStringLiteral(MOE_SOURCE_DIR "/projects/classroom_spirals.json")));
        if (TrainingController::engineAvailable()) {
            QTRY_VERIFY(w.training()->status().active());
            QVERIFY(w.training()->runStorePath().startsWith(w.runDir()));
        }
        w.resetScenario();
        QVERIFY(!w.training()->status().active());
        QCOMPARE(panel->currentStep(), 0);
        QVERIFY(!w.document()->hasScenarioOverlay());
        QVERIFY(!w.document()->isModified());
        QCOMPARE(w.document()->project().model.blocks[0].losses.aux, 0.05);
        QCOMPARE(w.document()->project().model.blocks[1].losses.aux, 0.05);
    }

    void shippedExamplesAreNeverOverwritten() {
        QTemporaryDir shipped;
        const QString copy = shipped.filePath("collapse.json");
        QVERIFY(QFile::copy(QStringLiteral(MOE_SOURCE_DIR "/projects/collapse.json"), copy));
        qputenv("MOE_STUDIO_PROJECTS", shipped.path().toUtf8());
        MainWindow w(false, m_dir.filePath("recovery9"));
        QString err;
        QVERIFY2(w.openFile(copy, &err), qPrintable(err));
        QVERIFY(MainWindow::isShippedExample(copy));
        QVERIFY(!MainWindow::isShippedExample(m_dir.filePath("mine.json")));
        QFile f(copy);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray before = f.readAll();
        f.close();
        QVERIFY(!w.saveTo(copy, &err));
        QVERIFY2(err.contains("shipped example"), qPrintable(err));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), before);
        f.close();
        QVERIFY2(w.saveTo(m_dir.filePath("mine.json"), &err), qPrintable(err));
        qunsetenv("MOE_STUDIO_PROJECTS");
    }

    void toolbarUndoStaysCompact() {
        MainWindow w(false, m_dir.filePath("recovery11"));
        w.show();
        auto* tb = w.findChild<QToolBar*>("mainToolbar");
        QVERIFY(tb);
        QToolButton* fit = nullptr;
        for (QAction* a : tb->actions())
            if (a->text() == "Fit") fit = qobject_cast<QToolButton*>(tb->widgetForAction(a));
        QVERIFY(fit);
        const int before = fit->pos().x();
        // An undoable edit with a long description: the buttons after Undo stay where they were.
        w.document()->edit(QString("Set %1").arg(QString(200, 'x')), [](moe::spec::Project& p) { p.model.name = "renamed"; });
        QVERIFY(w.document()->undoStack()->canUndo());
        QApplication::processEvents();
        QCOMPARE(fit->pos().x(), before);
    }

    void scenarioStepsInPlainWords() {
        QCOMPARE(ScenarioPanel::describeEdit("model.blocks[*].losses.aux", 0.05), QStringLiteral("set the load-balancing loss to 0.05 in every block"));
        QCOMPARE(ScenarioPanel::describeEdit("model.blocks[2].router.noise", 1.0), QStringLiteral("set the router noise to 1.0 in block 2"));
        QCOMPARE(ScenarioPanel::describeEdit("model.name", "x"), QStringLiteral("set model.name to x"));
    }

    void comparisonSaysWhatChanged() {
        auto p = MainWindow(false, m_dir.filePath("recovery13")).document()->project();
        const std::string before = spec::serializeProject(p);
        p.model.blocks[1].losses.aux = 0.05;
        const QStringList d = RunPanel::projectDiff(before, spec::serializeProject(p));
        QCOMPARE(d.size(), 1);
        QVERIFY2(d.front().startsWith("model.blocks[1].losses.aux: "), qPrintable(d.front()));
        QVERIFY2(d.front().endsWith("→ 0.05"), qPrintable(d.front()));
        QVERIFY(RunPanel::projectDiff(before, before).isEmpty());
    }

    void chartTicksAreRound() {
        QCOMPARE(niceStep(300, 5), 100.0);
        QCOMPARE(niceStep(200, 5), 50.0);
        QCOMPARE(niceStep(1500, 5), 500.0);
        QCOMPARE(niceStep(10, 5), 2.0);
        QCOMPARE(niceStep(3, 5), 1.0);
    }

    void exportsCanvasCsvAndReport() {
        MainWindow w(false, m_dir.filePath("recovery12"));
        w.show();
        QString err;
        const QString png = m_dir.filePath("canvas.png"), svg = m_dir.filePath("canvas.svg");
        QVERIFY2(w.exportCanvas(png, &err), qPrintable(err));
        QVERIFY(QImage(png).width() > 200);
        QVERIFY2(w.exportCanvas(svg, &err), qPrintable(err));
        QFile f(svg);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QVERIFY(f.readAll().contains("<svg"));
        QVERIFY(!w.exportCanvas(m_dir.filePath("canvas.bmp"), &err));
        QVERIFY(err.contains(".png or .svg"));
        // Run exports need an opened run.
        QVERIFY(!w.exportRunReport(m_dir.filePath("r.md"), &err));
        QVERIFY(err.contains("Open a run"));
        const QString run = writeRun(m_dir.path(), "run_export", 5, w.document()->project());
        QVERIFY2(w.runPanel()->openRun(run, &err), qPrintable(err));
        QDir().mkpath(m_dir.filePath("csv"));
        QVERIFY2(w.exportRunCsv(m_dir.filePath("csv"), &err), qPrintable(err));
        QFile steps(m_dir.filePath("csv/run_export-steps.csv"));
        QVERIFY(steps.open(QIODevice::ReadOnly));
        QCOMPARE(steps.readAll().count('\n'), 6);  // header and five snapshots
        QVERIFY2(w.exportRunReport(m_dir.filePath("r.md"), &err), qPrintable(err));
        QFile md(m_dir.filePath("r.md"));
        QVERIFY(md.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(md.readAll());
        QVERIFY(text.startsWith("# Run run_export"));
        QVERIFY(text.contains("even-router CV"));
        QVERIFY(text.contains("## Project as trained"));
    }

    void helpIsBuiltIn() {
        MainWindow w(false, m_dir.filePath("recovery10"));
        for (const char* page : {"guide", "glossary", "shortcuts"}) {
            QVERIFY(w.findChild<QAction*>(QStringLiteral("help_") + page));
            QDialog* d = w.showHelp(QString::fromLatin1(page));
            QVERIFY(d);
            const QString text = d->findChild<QTextBrowser*>()->toPlainText();
            QVERIFY2(text.size() > 300, page);
        }
        // The glossary explains every figure the collapse monitor shows.
        const QString glossary = w.showHelp("glossary")->findChild<QTextBrowser*>()->toPlainText();
        for (const char* term : {"Coefficient of variation", "Noise floor", "Dead expert", "effective experts", "Drop rate", "Router gradient", "Expert similarity"})
            QVERIFY2(glossary.contains(QLatin1String(term), Qt::CaseInsensitive), term);
        QVERIFY(!w.showHelp("nothing"));
    }

    // The verdict `moe train` gives, before Train: a twin of DeepSeek-V3 fits, the model itself
    // (671G parameters, terabytes with Adam) does not, and Train refuses it with the numbers.
    // Two ranks, expert parallel, started from the Run panel: `moe train --nproc 2 --ep 2` runs
    // beside the studio, which follows its run store live; pause and step do not apply to it.
    void trainsOnTwoRanksFromTheRunPanel() {
        if (!TrainingController::engineAvailable()) QSKIP("the training engine is not built");
        qputenv("MOE_CLI", MOE_CLI_PATH);
        MainWindow w(false, m_dir.filePath("recovery-ranks"));
        ProjectDocument* doc = w.document();
        QVERIFY(doc->edit("tiny run", [](spec::Project& p) {
                       p.training.steps = 6;
                       p.training.epochs.reset();
                       p.training.batch = 16;
                       p.training.telemetryInterval = 2;
                       p.training.trainSamples = 256;
                       p.training.testSamples = 64;
                   }).isEmpty());
        RunPanel* run = w.runPanel();
        run->setRanks(2, true);
        QSignalSpy snapshots(w.training(), &TrainingController::snapshot);
        QSignalSpy ended(w.training(), &TrainingController::runEnded);
        QString err;
        QVERIFY2(w.train(0, &err), qPrintable(err));
        QCOMPARE(w.training()->status().ranks, 2);
        int pauses = 0;
        for (auto* b : run->findChildren<QPushButton*>())
            if (b->text() == "Pause" || b->text() == "Step") {
                QVERIFY2(!b->isEnabled(), qPrintable(b->text()));
                ++pauses;
            }
        QCOMPARE(pauses, 2);
        QTRY_COMPARE_WITH_TIMEOUT(ended.count(), 1, test_time::scaled(90000));
        const RunStatus s = w.training()->status();
        QVERIFY2(s.state == RunStatus::Finished, qPrintable(s.message));
        QCOMPARE(s.step, qint64(6));
        QVERIFY(snapshots.count() >= 3);  // steps 1, 2, 4, 6
        auto reader = tel::RunReader::open(w.training()->runStorePath().toStdString());
        QVERIFY2(reader.ok(), reader.message().c_str());
        const auto last = reader.value()->latest();
        QCOMPARE(last->step, std::int64_t(6));
        QCOMPARE(last->rankTimes.size(), size_t(2));
        // The project copy the ranks read is gone; the run store keeps the project.
        QString copy = w.training()->runStorePath();
        copy.replace(QRegularExpression("\\.sqlite$"), ".project.json");
        QVERIFY2(!QFileInfo::exists(copy), qPrintable(copy));
        QVERIFY(reader.value()->info().projectJson.find("\"ep\": 2") != std::string::npos);
    }

    void aModelTooLargeToTrainIsRefusedBeforeTrain() {
        MainWindow w(false, m_dir.filePath("recovery20"));
        QString err;
        QVERIFY2(w.openFile(QStringLiteral(MOE_SOURCE_DIR "/projects/llm_h100.json"), &err), qPrintable(err));
        RunPanel* run = w.runPanel();
        auto* trainButton = run->findChild<QPushButton*>(QStringLiteral("trainButton"));
        auto* status = w.findChild<QLabel*>(QStringLiteral("runStatus"));
        QVERIFY(status);
        const bool engine = TrainingController::engineAvailable();
        QVERIFY(trainButton->toolTip().contains("Training needs about"));
        QVERIFY2(run->memoryWarning().isEmpty(), qPrintable(run->memoryWarning()));
        QCOMPARE(status->text(), engine ? QString("ready to train") : QString("training engine not built"));
        QVERIFY(w.document()->edit(QStringLiteral("no twin"), [](spec::Project& p) { p.training.twin.reset(); }).isEmpty());
        QVERIFY(w.trainingMemoryRefusal().contains("671.03G parameters"));
        QVERIFY2(run->memoryWarning().contains("Will not train: training this model needs about") &&
                     run->memoryWarning().contains("more than the memory this machine has available"),
                 qPrintable(run->memoryWarning()));
        // The status bar says what the Run panel says, and the Train action refuses with it.
        if (engine) {
            QCOMPARE(w.trainVerdict().kind, MainWindow::TrainVerdict::TooBig);
            QCOMPARE(status->text(), QString("will not train: too big for this machine's memory"));
            QVERIFY2(status->toolTip().contains("671.03G parameters"), qPrintable(status->toolTip()));
            QVERIFY(!w.train(10, &err));
            QVERIFY2(err.contains("train a twin (training.twin)"), qPrintable(err));
            QCOMPARE(err, status->toolTip());
            QCOMPARE(w.training()->status().state, RunStatus::Idle);
        }
        // Undo brings the twin back, and the warning goes.
        w.document()->undoStack()->undo();
        QVERIFY2(run->memoryWarning().isEmpty(), qPrintable(run->memoryWarning()));
        QCOMPARE(status->text(), engine ? QString("ready to train") : QString("training engine not built"));
    }

    // A model with problems is not ready either: the status bar says so with the first problem.
    void theStatusBarSaysAModelWithProblemsWillNotTrain() {
        MainWindow w(false, m_dir.filePath("recovery21"));
        auto* status = w.findChild<QLabel*>(QStringLiteral("runStatus"));
        QVERIFY(status);
        const int moe = [&] {
            const auto& b = w.document()->project().model.blocks;
            for (size_t i = 0; i < b.size(); ++i)
                if (b[i].kind == spec::BlockKind::Moe) return static_cast<int>(i);
            return -1;
        }();
        QVERIFY(moe >= 0);
        QVERIFY(w.document()->edit(QStringLiteral("k above the experts"), [moe](spec::Project& p) {
            auto& b = p.model.blocks[static_cast<size_t>(moe)];
            b.router.k = b.experts.value_or(spec::kDefaultExperts) + 1;
        }).isEmpty());
        QVERIFY(!w.document()->problems().empty());
        if (!TrainingController::engineAvailable()) {
            QCOMPARE(status->text(), QString("training engine not built"));
            return;
        }
        QCOMPARE(status->text(), QString("will not train: fix the problems first"));
        QVERIFY2(status->toolTip().contains("router.k"), qPrintable(status->toolTip()));
        QString err;
        QVERIFY(!w.train(10, &err));
        QCOMPARE(err, status->toolTip());
        w.document()->undoStack()->undo();
        QCOMPARE(status->text(), QString("ready to train"));
    }

    void trainingWithoutTheEngineSaysSo() {
        if (TrainingController::engineAvailable()) QSKIP("the training engine is built; the app test trains for real");
        MainWindow w(false, m_dir.filePath("recovery6"));
        QString err;
        QVERIFY(!w.train(10, &err));
        QVERIFY(err.contains("training engine is not built"));
    }
};

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
