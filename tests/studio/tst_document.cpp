// The document: undo/redo of every kind of edit, open/save, broken files, crash recovery.
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include "document.h"
#include "moe/spec/project_io.h"
#include "recovery.h"

using namespace moe::studio;
namespace spec = moe::spec;

class TestDocument : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    void newDocumentIsValidAndClean() {
        ProjectDocument doc;
        QCOMPARE(doc.project().model.blocks.size(), size_t(2));
        QVERIFY(doc.problems().empty());
        QVERIFY(!doc.isModified());
        QCOMPARE(doc.blockIds().size(), size_t(2));
    }

    void insertMoveDuplicateRemoveUndoRedo() {
        ProjectDocument doc;
        const BlockId first = doc.idAt(0), second = doc.idAt(1);
        const BlockId added = doc.insertBlock(1, ProjectDocument::defaultMoeBlock());
        QCOMPARE(doc.indexOf(added), 1);
        QCOMPARE(doc.project().model.blocks.size(), size_t(3));
        QVERIFY(doc.isModified());

        doc.moveBlock(first, 2);
        QCOMPARE(doc.indexOf(first), 2);
        QCOMPARE(doc.indexOf(added), 0);

        const auto copies = doc.duplicateBlocks({second});
        QCOMPARE(copies.size(), size_t(1));
        QCOMPARE(doc.indexOf(copies[0]), doc.indexOf(second) + 1);
        QCOMPARE(doc.project().model.blocks.size(), size_t(4));

        doc.removeBlocks({added, copies[0]});
        QCOMPARE(doc.project().model.blocks.size(), size_t(2));
        QCOMPARE(doc.indexOf(added), -1);

        // Walk all the way back, then forward again.
        QUndoStack* u = doc.undoStack();
        QCOMPARE(u->count(), 4);
        u->undo();
        QCOMPARE(doc.project().model.blocks.size(), size_t(4));
        u->undo();
        u->undo();
        QCOMPARE(doc.indexOf(first), 0);  // before the move
        u->undo();
        QCOMPARE(doc.project().model.blocks.size(), size_t(2));
        QCOMPARE(doc.idAt(0), first);
        QVERIFY(!doc.isModified());
        for (int i = 0; i < 4; ++i) u->redo();
        QCOMPARE(doc.project().model.blocks.size(), size_t(2));
        QCOMPARE(doc.indexOf(first), 1);
    }

    void fieldEditsMergeIntoOneStep() {
        ProjectDocument doc;
        auto setWidth = [&](int w) { return doc.edit("width", [w](spec::Project& p) { p.model.stem.dModel = w; }, "model.stem.d_model"); };
        QVERIFY(setWidth(6).isEmpty());
        QVERIFY(setWidth(64).isEmpty());
        QCOMPARE(doc.undoStack()->count(), 1);
        QCOMPARE(doc.project().model.stem.dModel, 64);
        doc.undoStack()->undo();
        QCOMPARE(doc.project().model.stem.dModel, ProjectDocument::defaultProject().model.stem.dModel);
    }

    void readerRejectsOutOfRangeAndNothingChanges() {
        ProjectDocument doc;
        const std::string before = spec::serializeProject(doc.project());
        const QString why = doc.edit("width", [](spec::Project& p) { p.model.stem.dModel = 0; });
        QVERIFY2(why.contains("out of range"), qPrintable(why));
        QCOMPARE(spec::serializeProject(doc.project()), before);
        QCOMPARE(doc.undoStack()->count(), 0);
        const QString aux = doc.edit("aux", [](spec::Project& p) { p.model.blocks[1].losses.aux = 1000; });
        QVERIFY2(aux.contains("out of range"), qPrintable(aux));
    }

    void crossFieldProblemsAreKeptAndPointAtTheBlock() {
        ProjectDocument doc;
        const QString why = doc.edit("k", [](spec::Project& p) { p.model.blocks[1].router.k = 9; });
        QVERIFY(why.isEmpty());  // accepted: the user may raise the expert count next
        QCOMPARE(doc.problems().size(), size_t(1));
        const auto& p = doc.problems().front();
        QCOMPARE(QString::fromStdString(p.diagnostic.path), QString("model.blocks[1].router.k"));
        QVERIFY(QString::fromStdString(p.diagnostic.message).contains("exceeds"));
        QCOMPARE(p.item.kind, ItemRef::Block);
        QCOMPARE(p.item.block, doc.idAt(1));
        QCOMPARE(doc.problemsFor({ItemRef::Block, doc.idAt(1)}).size(), size_t(1));
        QVERIFY(doc.problemsFor({ItemRef::Block, doc.idAt(0)}).empty());
        doc.undoStack()->undo();
        QVERIFY(doc.problems().empty());
    }

    void scenarioEditsGoThroughApplyEdits() {
        ProjectDocument doc;
        const QString ok = doc.applyJsonEdits({{"model.blocks[1].losses.aux", 0.0}}, "no aux");
        QVERIFY2(ok.isEmpty(), qPrintable(ok));
        // [*] reaches the blocks that have the key: the moe block changes, the dense block stays dense.
        const QString all = doc.applyJsonEdits({{"model.blocks[*].losses.aux", 0.5}}, "all");
        QVERIFY2(all.isEmpty(), qPrintable(all));
        QCOMPARE(doc.project().model.blocks[1].losses.aux, 0.5);
        QVERIFY(doc.project().model.blocks[0].kind == spec::BlockKind::Dense);
        doc.undoStack()->undo();
        // A dense block named by its index has no losses: refused with the reason, nothing changes.
        const QString dense = doc.applyJsonEdits({{"model.blocks[0].losses.aux", 0.5}}, "dense");
        QVERIFY2(dense.contains("cannot apply this edit"), qPrintable(dense));
        QCOMPARE(doc.project().model.blocks[1].losses.aux, 0.0);
        const QString bad = doc.applyJsonEdits({{"model.blocks[7].losses.aux", 0.0}}, "bad");
        QVERIFY2(bad.contains("past the end"), qPrintable(bad));
        doc.undoStack()->undo();
        QCOMPARE(doc.project().model.blocks[1].losses.aux, 0.01);
    }

    void readOnlyRefusesEdits() {
        ProjectDocument doc;
        doc.setReadOnly(true, "training");
        QCOMPARE(doc.edit("w", [](spec::Project& p) { p.model.stem.dModel = 48; }), QString("training"));
        doc.insertBlock(0, ProjectDocument::defaultDenseBlock());
        QCOMPARE(doc.project().model.blocks.size(), size_t(2));
        doc.setReadOnly(false);
        QVERIFY(doc.edit("w", [](spec::Project& p) { p.model.stem.dModel = 48; }).isEmpty());
    }

    void saveAndOpenRoundTrip() {
        QTemporaryDir dir;
        ProjectDocument doc;
        doc.insertBlock(0, ProjectDocument::defaultMoeBlock());
        const QString path = dir.filePath("model.json");
        QString err;
        QVERIFY2(doc.save(path, &err), qPrintable(err));
        QVERIFY(!doc.isModified());
        QCOMPARE(doc.filePath(), QFileInfo(path).absoluteFilePath());
        ProjectDocument other;
        QVERIFY2(other.open(path, &err), qPrintable(err));
        QCOMPARE(spec::serializeProject(other.project()), spec::serializeProject(doc.project()));
        QCOMPARE(other.undoStack()->count(), 0);
    }

    void brokenFileShowsTheLoaderMessageAndLosesNothing() {
        QTemporaryDir dir;
        const QString path = dir.filePath("broken.json");
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\n  \"format\": \"moe-studio/1\",\n  \"model\": {\"input\": {\"dataset\": \"spiralz\"}, \"blocks\": []},\n"
                "  \"training\": {\"steps\": 10}\n}\n");
        f.close();
        ProjectDocument doc;
        doc.insertBlock(0, ProjectDocument::defaultDenseBlock());
        const std::string before = spec::serializeProject(doc.project());
        QSignalSpy resets(&doc, &ProjectDocument::reset);
        QString err;
        QVERIFY(!doc.open(path, &err));
        QVERIFY2(err.contains("model.input.dataset"), qPrintable(err));
        QVERIFY2(err.contains("did you mean \"spirals\""), qPrintable(err));
        QVERIFY2(err.contains("broken.json:3:"), qPrintable(err));
        QCOMPARE(spec::serializeProject(doc.project()), before);
        QCOMPARE(doc.undoStack()->count(), 1);
        QVERIFY(doc.isModified());
        QCOMPARE(resets.count(), 0);
        QVERIFY(!doc.open(dir.filePath("missing.json"), &err));
        QVERIFY(err.contains("missing.json"));
    }

    void recoveryAfterACrash() {
        QTemporaryDir dir;
        ProjectDocument doc;
        QVERIFY(doc.edit("name", [](spec::Project& p) { p.model.name = "unsaved work"; }).isEmpty());
        QString file;
        {
            RecoveryStore store(dir.path());
            QString err;
            QVERIFY2(store.write(doc.project(), "/somewhere/net.json", &err), qPrintable(err));
            file = store.filePath();
            // Our own file is not an orphan while we run.
            QVERIFY(RecoveryStore::orphans(dir.path()).isEmpty());
        }  // gone without discard(): what a crash leaves behind
        const auto orphans = RecoveryStore::orphans(dir.path());
        QCOMPARE(orphans.size(), 1);
        QCOMPARE(orphans.front().file, file);
        QCOMPARE(orphans.front().originalPath, QString("/somewhere/net.json"));
        QVERIFY(orphans.front().savedAt.isValid());
        auto r = RecoveryStore::read(file);
        QVERIFY2(r.ok(), r.message().c_str());
        QCOMPARE(r->model.name, std::string("unsaved work"));

        ProjectDocument restored;
        restored.adopt(r.value(), orphans.front().originalPath);
        QVERIFY(restored.isModified());
        QCOMPARE(restored.filePath(), QString("/somewhere/net.json"));
        RecoveryStore::remove(file);
        QVERIFY(RecoveryStore::orphans(dir.path()).isEmpty());
    }

    void cleanCloseLeavesNoRecoveryFile() {
        QTemporaryDir dir;
        {
            RecoveryStore store(dir.path());
            QString err;
            QVERIFY(store.write(ProjectDocument::defaultProject(), {}, &err));
            QVERIFY(store.hasFile());
            store.discard();
        }
        QVERIFY(RecoveryStore::orphans(dir.path()).isEmpty());
    }

    void garbageRecoveryFileIsReportedNotLoaded() {
        QTemporaryDir dir;
        QFile f(dir.filePath("autosave-x.json"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"format\": \"something else\"}");
        f.close();
        auto r = RecoveryStore::read(f.fileName());
        QVERIFY(!r.ok());
        QVERIFY(QString::fromStdString(r.message()).contains("not a recovery file"));
    }
};

QTEST_MAIN(TestDocument)
#include "tst_document.moc"
