// The inspector: typed editors for every field of the selection, validation as you type with
// the reason shown, live derived figures, classroom hiding of advanced fields.
#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QStandardPaths>
#include <QtTest>

#include "document.h"
#include "format.h"
#include "inspector.h"
#include "moe/spec/derived.h"
#include "palette.h"

using namespace moe::studio;
namespace spec = moe::spec;

class TestInspector : public QObject {
    Q_OBJECT

    ProjectDocument* m_doc = nullptr;
    Inspector* m_insp = nullptr;

    ItemRef moeBlock() const { return {ItemRef::Block, m_doc->idAt(1)}; }
    template <class W>
    W* editor(const QString& path) {
        auto* w = qobject_cast<W*>(m_insp->editorFor(path));
        if (!w) qWarning("no editor for %s", qPrintable(path));
        return w;
    }
    void typeInto(QLineEdit* le, const QString& text) {
        le->setFocus();
        le->selectAll();
        QTest::keyClicks(le, text);
    }

private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
    void init() {
        m_doc = new ProjectDocument;
        m_insp = new Inspector(m_doc);
        m_insp->resize(380, 900);
        m_insp->show();
        QVERIFY(QTest::qWaitForWindowExposed(m_insp));
        m_insp->setSelection({moeBlock()});
    }
    void cleanup() {
        delete m_insp;
        delete m_doc;
    }

    // Memory in binary units everywhere, as moe describe prints it.
    void memoryIsInBinaryUnits() {
        QCOMPARE(humanBytes(512), QStringLiteral("512 B"));
        QCOMPARE(humanBytes(1536), QStringLiteral("1.50 KiB"));
        QCOMPARE(humanBytes(8e9), QStringLiteral("7.45 GiB"));
    }

    void everyFieldOfAnMoeBlockHasAnEditor() {
        const QStringList paths = m_insp->paths();
        for (const char* p : {"label", "kind", "norm", "residual", "ffn.hidden", "ffn.activation", "experts", "shared_experts",
                              "zero_experts.zero", "zero_experts.copy", "zero_experts.constant", "router.kind", "router.k",
                              "router.temperature", "router.noise", "router.renormalize", "capacity.dropless", "losses.aux", "losses.z"})
            QVERIFY2(paths.contains(QStringLiteral("model.blocks[1].") + p), p);
        QVERIFY(editor<QComboBox>("model.blocks[1].router.kind"));
        QVERIFY(editor<QCheckBox>("model.blocks[1].residual"));
        auto* k = editor<QSpinBox>("model.blocks[1].router.k");
        QVERIFY(k);
        QCOMPARE(k->value(), 2);
        QCOMPARE(k->maximum(), 4096);
        QCOMPARE(k->specialValueText(), QString("from schedule"));
    }

    void spinBoxEditsTheDocumentAndFiguresFollow() {
        const QString before = m_insp->figuresText();
        editor<QSpinBox>("model.blocks[1].experts")->setValue(8);
        QCOMPARE(*m_doc->project().model.blocks[1].experts, 8);
        QVERIFY(m_insp->figuresText() != before);
        QVERIFY(m_insp->figuresText().contains("Routed experts"));
        QCOMPARE(m_doc->undoStack()->count(), 1);
    }

    void notANumberIsShownAndNotApplied() {
        auto* aux = editor<QLineEdit>("model.blocks[1].losses.aux");
        typeInto(aux, "abc");
        QVERIFY2(m_insp->messageFor("model.blocks[1].losses.aux").contains("is not a number"), qPrintable(m_insp->messageFor("model.blocks[1].losses.aux")));
        QCOMPARE(m_doc->project().model.blocks[1].losses.aux, 0.01);
        QCOMPARE(m_doc->undoStack()->count(), 0);
    }

    void outOfRangeShowsTheReadersReason() {
        auto* aux = editor<QLineEdit>("model.blocks[1].losses.aux");
        typeInto(aux, "250");
        const QString msg = m_insp->messageFor("model.blocks[1].losses.aux");
        QVERIFY2(msg.contains("250.0 is out of range (valid: 0 to 100)"), qPrintable(msg));
        // As typed: "2" and "25" were valid and applied (one undo step), "250" is not.
        QCOMPARE(m_doc->project().model.blocks[1].losses.aux, 25.0);
        QCOMPARE(m_doc->undoStack()->count(), 1);
        // Fixing it applies and clears the message.
        typeInto(aux, "0.5");
        QCOMPARE(m_doc->project().model.blocks[1].losses.aux, 0.5);
        QVERIFY(m_insp->messageFor("model.blocks[1].losses.aux").isEmpty());
    }

    void crossFieldProblemShowsUnderItsField() {
        editor<QSpinBox>("model.blocks[1].router.k")->setValue(6);
        QCOMPARE(*m_doc->project().model.blocks[1].router.k, 6);
        QVERIFY(m_insp->messageFor("model.blocks[1].router.k").contains("exceeds the 4 experts"));
        editor<QSpinBox>("model.blocks[1].experts")->setValue(8);
        QVERIFY(m_insp->messageFor("model.blocks[1].router.k").isEmpty());
        QVERIFY(m_doc->problems().empty());
    }

    void routerKindShowsItsOwnParameters() {
        auto* kind = editor<QComboBox>("model.blocks[1].router.kind");
        // Plain words in the list, the file's names behind them.
        QCOMPARE(kind->currentText(), QStringLiteral("top-k"));
        QVERIFY(kind->findText("sigmoid + bias") >= 0 && kind->findText("sigmoid_bias") < 0);
        kind->setCurrentIndex(kind->findData("dynamic"));
        QCOMPARE(kind->currentText(), QStringLiteral("dynamic (top-p)"));
        Q_EMIT kind->activated(kind->currentIndex());
        QTRY_VERIFY(m_insp->paths().contains("model.blocks[1].router.tau"));
        QVERIFY(!m_insp->paths().contains("model.blocks[1].router.k"));
        QVERIFY(m_doc->project().model.blocks[1].router.kind == spec::RouterKind::Dynamic);
        m_doc->undoStack()->undo();
        QTRY_VERIFY(m_insp->paths().contains("model.blocks[1].router.k"));
    }

    void undoUpdatesTheEditors() {
        editor<QSpinBox>("model.blocks[1].ffn.hidden")->setValue(200);
        QCOMPARE(m_doc->project().model.blocks[1].ffn.hidden, 200);
        m_doc->undoStack()->undo();
        QCOMPARE(editor<QSpinBox>("model.blocks[1].ffn.hidden")->value(), 64);
    }

    void modelSelectionEditsSchedulesAndTraining() {
        m_insp->setSelection({});
        QVERIFY(m_insp->paths().contains("training.learning_rate"));
        auto* shape = editor<QComboBox>("model.schedule.experts.kind");
        shape->setCurrentText("descending");
        Q_EMIT shape->activated(shape->currentIndex());
        QTRY_VERIFY(m_insp->paths().contains("model.schedule.experts.max"));
        QVERIFY(m_doc->project().model.expertSchedule.has_value());
        auto* lr = editor<QLineEdit>("training.learning_rate");
        typeInto(lr, "0");
        QVERIFY(m_insp->messageFor("training.learning_rate").contains("out of range"));
    }

    // The trainable twin is set in the training fields: turning it on shows its width and depth,
    // which edit the document; the model keeps its own size.
    void twinIsSetInTheTrainingFields() {
        m_insp->setSelection({});
        QVERIFY(!m_insp->paths().contains("training.twin.d_model"));
        auto* on = editor<QCheckBox>("training.twin");
        QVERIFY(on);
        on->setChecked(true);
        QTRY_VERIFY(m_insp->paths().contains("training.twin.d_model"));
        QVERIFY(m_doc->project().training.twin.has_value());
        auto* width = editor<QSpinBox>("training.twin.d_model");
        QVERIFY(width);
        const int modelWidth = m_doc->project().model.stem.dModel;
        width->setValue(16);
        QCOMPARE(m_doc->project().training.twin->dModel, 16);
        QCOMPARE(m_doc->project().model.stem.dModel, modelWidth);
        auto* depth = editor<QSpinBox>("training.twin.layers");
        QVERIFY(depth);
        depth->setValue(2);
        QCOMPARE(m_doc->project().training.twin->layers, 2);
    }

    void classroomHidesAdvancedFields() {
        m_insp->setClassroom(true);
        QVERIFY(!m_insp->paths().contains("model.blocks[1].router.temperature"));
        QVERIFY(!m_insp->paths().contains("model.blocks[1].losses.z"));
        QVERIFY(m_insp->paths().contains("model.blocks[1].losses.aux"));
        m_insp->setClassroom(false);
        QVERIFY(m_insp->paths().contains("model.blocks[1].router.temperature"));
    }

    void attentionEditsKvHeadsWithLiveValidation() {
        // A text model with one GQA attention block (4 heads, 2 key/value heads).
        QCOMPARE(applyPaletteEntry(*m_doc, "stem:embedding", 0, 0), QString());
        QCOMPARE(applyPaletteEntry(*m_doc, "block:attention_gqa", 0, 0), QString());
        m_insp->setSelection({ItemRef{ItemRef::Block, m_doc->idAt(0)}});
        for (const char* p : {"type", "heads", "kv_heads", "causal"})
            QVERIFY2(m_insp->paths().contains(QStringLiteral("model.blocks[0].") + p), p);
        auto* kv = editor<QSpinBox>("model.blocks[0].kv_heads");
        QVERIFY(kv);
        QCOMPARE(kv->value(), 2);
        QVERIFY(m_insp->messageFor("model.blocks[0].kv_heads").isEmpty());
        // 3 key/value heads cannot share 4 query heads evenly: the edit applies and the reason shows.
        kv->setValue(3);
        QCOMPARE(m_doc->project().model.blocks[0].attention.kvHeads, 3);
        QVERIFY2(!m_insp->messageFor("model.blocks[0].kv_heads").isEmpty(), "no message for 3 kv heads of 4");
        kv->setValue(2);
        QVERIFY(m_insp->messageFor("model.blocks[0].kv_heads").isEmpty());
        // MLA shows its latent fields instead of kv_heads.
        auto* type = editor<QComboBox>("model.blocks[0].type");
        type->setCurrentIndex(type->findData("mla"));
        Q_EMIT type->activated(type->currentIndex());
        QTRY_VERIFY(m_insp->paths().contains("model.blocks[0].kv_lora_rank"));
        QVERIFY(!m_insp->paths().contains("model.blocks[0].kv_heads"));
    }

    void groupAndItsChildrenHaveTheirFields() {
        QCOMPARE(applyPaletteEntry(*m_doc, "stem:embedding", 0, 0), QString());
        QCOMPARE(applyPaletteEntry(*m_doc, "block:group", 2, 0), QString());
        m_insp->setSelection({ItemRef{ItemRef::Block, m_doc->idAt(2)}});
        for (const char* p : {"repeat", "first_dense"}) QVERIFY2(m_insp->paths().contains(QStringLiteral("model.blocks[2].") + p), p);
        QVERIFY(m_insp->figuresText().contains("8 layers"));
        editor<QSpinBox>("model.blocks[2].repeat")->setValue(6);
        QCOMPARE(m_doc->project().model.blocks[2].repeat, 6);
        QVERIFY(m_insp->figuresText().contains("12 layers"));
        // A child: its own fields under the group's path.
        m_insp->setSelection({ItemRef{ItemRef::Block, m_doc->idAt(2), 1}});
        QVERIFY(m_insp->paths().contains("model.blocks[2].blocks[1].router.groups"));
        editor<QSpinBox>("model.blocks[2].blocks[1].ffn.hidden")->setValue(96);
        QCOMPARE(m_doc->project().model.blocks[2].children[1].ffn.hidden, 96);
    }

    void embeddingStemAndTextInputFields() {
        QCOMPARE(applyPaletteEntry(*m_doc, "stem:embedding", 0, 0), QString());
        m_insp->setSelection({ItemRef{ItemRef::Stem, 0}});
        for (const char* p : {"model.stem.kind", "model.stem.vocab", "model.stem.d_model", "model.stem.positions", "model.stem.rope_theta"})
            QVERIFY2(m_insp->paths().contains(p), p);
        m_insp->setSelection({ItemRef{ItemRef::Input, 0}});
        QVERIFY(m_insp->paths().contains("model.input.corpus"));
        editor<QSpinBox>("model.input.seq_len")->setValue(64);
        QCOMPARE(m_doc->project().model.input.seqLen, 64);
        m_insp->setSelection({ItemRef{ItemRef::Head, 0}});
        QVERIFY(editor<QCheckBox>("model.head.tied"));
    }

    // The description is a paragraph; labels are words (the file's names live in the tooltips).
    void descriptionIsAParagraphAndLabelsArePlainWords() {
        m_insp->setSelection({});
        auto* desc = editor<QPlainTextEdit>("description");
        QVERIFY(desc);
        desc->setPlainText("First line.\nSecond line.");
        QCOMPARE(QString::fromStdString(m_doc->project().description), QString("First line.\nSecond line."));
        for (ItemRef sel : {ItemRef{ItemRef::Stem, 0}, moeBlock()}) {
            m_insp->setSelection({sel});
            for (const QLabel* l : m_insp->findChildren<QLabel*>()) {
                const QString t = l->text().remove(':').trimmed();
                QVERIFY2(t != "d_model" && t != "k", qPrintable("raw label \"" + l->text() + "\""));
            }
        }
    }

    void stemAndHeadShowTheirOwnFigures() {
        QCOMPARE(applyPaletteEntry(*m_doc, "stem:embedding", 0, 0), QString());
        const auto f = moe::spec::computeFigures(m_doc->project().model.flattened());
        m_insp->setSelection({ItemRef{ItemRef::Stem, 0}});
        QVERIFY2(m_insp->figuresText().contains("This stem"), qPrintable(m_insp->figuresText()));
        QVERIFY(m_insp->figuresText().contains(humanCount(static_cast<double>(f.stemParams))));
        m_insp->setSelection({ItemRef{ItemRef::Head, 0}});
        QVERIFY2(m_insp->figuresText().contains("This head"), qPrintable(m_insp->figuresText()));
        QVERIFY(m_insp->figuresText().contains(humanCount(static_cast<double>(f.headParams))));
    }

    void lockedWhileTraining() {
        m_insp->setLocked(true, "training");
        QVERIFY(!m_insp->editorFor("model.blocks[1].router.k")->isEnabled());
        m_insp->setLocked(false, {});
        QVERIFY(m_insp->editorFor("model.blocks[1].router.k")->isEnabled());
    }
};

QTEST_MAIN(TestInspector)
#include "tst_inspector.moc"
