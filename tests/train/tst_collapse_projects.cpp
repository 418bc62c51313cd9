// The collapse scenario trips the dead-expert detector within 300 steps; its fixed twin does not.
// Rows come from projects/ (the shipped classroom scenario) and tests/data/train (fixtures).
#include <QtTest/QtTest>

#include <filesystem>

#include "moe/spec/project_io.h"
#include "moe/train/trainer.h"

namespace spec = moe::spec;
using moe::telemetry::AlertKind;

class TestCollapseProjects : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void deadExpertDetector_data() {
        QTest::addColumn<QString>("path");
        QTest::addColumn<bool>("collapses");
        const QString src = MOE_SOURCE_DIR;
        for (const QString& dir : {src + "/projects", src + "/tests/data/train"}) {
            if (!QFileInfo::exists(dir + "/collapse.json")) continue;
            QTest::newRow(qPrintable(dir.mid(src.size() + 1) + "/collapse.json")) << dir + "/collapse.json" << true;
            QTest::newRow(qPrintable(dir.mid(src.size() + 1) + "/collapse_fixed.json")) << dir + "/collapse_fixed.json" << false;
        }
    }

    void deadExpertDetector() {
        QFETCH(QString, path);
        QFETCH(bool, collapses);
        auto loaded = spec::loadProject(path.toStdString());
        QVERIFY2(loaded.ok(), loaded.message().c_str());
        auto p = loaded.value();
        p.training.steps = 300;
        p.training.epochs.reset();
        p.training.telemetryInterval = std::min(p.training.telemetryInterval, 10);
        moe::train::TrainerOptions o;
        o.threads = 1;
        auto t = moe::train::Trainer::create(p, o);
        QVERIFY2(t.ok(), t.message().c_str());
        std::vector<std::int64_t> deadAt;
        std::int64_t snapshots = 0;
        t.value()->setSnapshotCallback([&](moe::telemetry::SnapshotPtr s) {
            ++snapshots;
            for (const auto& a : s->alerts)
                if (a.kind == AlertKind::DeadExperts) deadAt.push_back(s->step);
        });
        t.value()->start();
        t.value()->wait();
        QVERIFY(t.value()->progress().state == moe::train::TrainerState::Finished);
        QVERIFY(snapshots >= 30);
        if (collapses) {
            QVERIFY2(!deadAt.empty(), "the collapse project never tripped the dead-expert detector in 300 steps");
            qInfo("dead experts first detected at step %lld", static_cast<long long>(deadAt.front()));
        } else {
            QVERIFY2(deadAt.empty(), qPrintable(QString("the fixed twin tripped the dead-expert detector at step %1").arg(deadAt.empty() ? 0 : deadAt.front())));
        }
    }
};

QTEST_GUILESS_MAIN(TestCollapseProjects)
#include "tst_collapse_projects.moc"
