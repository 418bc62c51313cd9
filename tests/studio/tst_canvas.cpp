// The network canvas: graph items, expert tiles by kind and schedule, palette drops, reorder,
// selection, invalid outlines with core/spec's message, load tint, zoom and fit.
#include <QGraphicsSceneDragDropEvent>
#include <QApplication>
#include <QFontInfo>
#include <QFontMetricsF>
#include <QMimeData>
#include <QScrollBar>
#include <QStandardPaths>
#include <QtTest>

#include "canvas.h"
#include "document.h"
#include "moe/spec/project_io.h"
#include "palette.h"
#include "theme.h"

using namespace moe::studio;
namespace spec = moe::spec;

namespace {

int nodeCount(QGraphicsScene& s) {
    int n = 0;
    for (auto* it : s.items()) n += dynamic_cast<NodeItem*>(it) ? 1 : 0;
    return n;
}

int tilesOfKind(const NodeItem* it, TileSpec::Kind k) {
    int n = 0;
    for (const auto& t : it->tiles()) n += t.kind == k ? 1 : 0;
    return n;
}

NodeItem* blockItem(NetworkScene& s, ProjectDocument& d, int i) { return s.itemFor({ItemRef::Block, d.idAt(i)}); }

// The default project turned into a byte-level text model by the palette's embedding entry
// (its dense and MoE blocks stay).
void makeTextModel(ProjectDocument& doc) { QCOMPARE(applyPaletteEntry(doc, "stem:embedding", 0, 0), QString()); }

QStringList problemTexts(const ProjectDocument& doc) {
    QStringList l;
    for (const auto& p : doc.problems()) l << QString::fromStdString(p.diagnostic.path + ": " + p.diagnostic.message);
    return l;
}

}  // namespace

class TestCanvas : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    void graphHasInputStemBlocksHead() {
        ProjectDocument doc;
        NetworkScene scene(&doc);
        QCOMPARE(nodeCount(scene), 5);
        QVERIFY(scene.itemFor({ItemRef::Input, 0}));
        QVERIFY(scene.itemFor({ItemRef::Head, 0}));
        // Left to right in chain order.
        QVERIFY(scene.itemFor({ItemRef::Stem, 0})->pos().x() < blockItem(scene, doc, 0)->pos().x());
        QVERIFY(blockItem(scene, doc, 1)->pos().x() < scene.itemFor({ItemRef::Head, 0})->pos().x());
        QVERIFY(blockItem(scene, doc, 0)->tiles().empty());  // dense
    }

    void expertTilesShowKinds() {
        ProjectDocument doc;
        QVERIFY(doc.edit("moe++", [](spec::Project& p) {
            auto& b = p.model.blocks[1];
            b.experts = 6;
            b.sharedExperts = 1;
            b.zeroExperts = {1, 2, 1};
        }).isEmpty());
        NetworkScene scene(&doc);
        const NodeItem* it = blockItem(scene, doc, 1);
        QCOMPARE(tilesOfKind(it, TileSpec::Shared), 1);
        QCOMPARE(tilesOfKind(it, TileSpec::Ffn), 6);
        QCOMPARE(tilesOfKind(it, TileSpec::Zero), 1);
        QCOMPARE(tilesOfKind(it, TileSpec::Copy), 2);
        QCOMPARE(tilesOfKind(it, TileSpec::Constant), 1);
        // Shared experts sit on their own row above the routed ones.
        QVERIFY(it->tileRect(0).bottom() < it->tileRect(1).top());
    }

    void scheduleChangeRetilesEveryBlockAtOnce() {
        ProjectDocument doc;
        QVERIFY(doc.edit("three moe blocks on a schedule", [](spec::Project& p) {
            p.model.blocks.assign(3, ProjectDocument::defaultMoeBlock());
            for (auto& b : p.model.blocks) b.experts.reset();
            p.model.expertSchedule = spec::Schedule{spec::ScheduleKind::Descending, 2, 8};
        }).isEmpty());
        NetworkScene scene(&doc);
        QCOMPARE(tilesOfKind(blockItem(scene, doc, 0), TileSpec::Ffn), 8);
        QCOMPARE(tilesOfKind(blockItem(scene, doc, 1), TileSpec::Ffn), 5);
        QCOMPARE(tilesOfKind(blockItem(scene, doc, 2), TileSpec::Ffn), 2);
        const double bigCard = blockItem(scene, doc, 0)->boundingRect().height();
        QVERIFY(bigCard > blockItem(scene, doc, 2)->boundingRect().height());

        QVERIFY(doc.edit("max 16", [](spec::Project& p) { p.model.expertSchedule->max = 16; }).isEmpty());
        QCOMPARE(tilesOfKind(blockItem(scene, doc, 0), TileSpec::Ffn), 16);
        QCOMPARE(tilesOfKind(blockItem(scene, doc, 1), TileSpec::Ffn), 9);
        QCOMPARE(tilesOfKind(blockItem(scene, doc, 2), TileSpec::Ffn), 2);
        doc.undoStack()->undo();
        QCOMPARE(tilesOfKind(blockItem(scene, doc, 0), TileSpec::Ffn), 8);
    }

    void paletteDropInsertsAtThePosition() {
        ProjectDocument doc;
        NetworkScene scene(&doc);
        // Just left of block 1, in its row.
        const QRectF b1 = blockItem(scene, doc, 1)->sceneBoundingRect();
        QMimeData mime;
        mime.setData(kPaletteMime, "block:moe_shared");
        QGraphicsSceneDragDropEvent drop(QEvent::GraphicsSceneDrop);
        drop.setScenePos(QPointF(b1.left() - 10, b1.center().y()));
        drop.setMimeData(&mime);
        drop.setProposedAction(Qt::CopyAction);
        QApplication::sendEvent(&scene, &drop);
        QCOMPARE(doc.project().model.blocks.size(), size_t(3));
        QCOMPARE(doc.project().model.blocks[1].sharedExperts, 1);
        QCOMPARE(nodeCount(scene), 6);
    }

    void expertAndRouterEntriesChangeTheBlockTheyLandOn() {
        ProjectDocument doc;
        NetworkScene scene(&doc);
        QSignalSpy refused(&scene, &NetworkScene::message);
        QMimeData mime;
        mime.setData(kPaletteMime, "expert:zero");
        QGraphicsSceneDragDropEvent drop(QEvent::GraphicsSceneDrop);
        drop.setScenePos(blockItem(scene, doc, 1)->sceneBoundingRect().center());
        drop.setMimeData(&mime);
        QApplication::sendEvent(&scene, &drop);
        QCOMPARE(doc.project().model.blocks[1].zeroExperts.zero, 1);

        // On a dense block: refused with a reason, nothing changes.
        QGraphicsSceneDragDropEvent onDense(QEvent::GraphicsSceneDrop);
        onDense.setScenePos(blockItem(scene, doc, 0)->sceneBoundingRect().center());
        onDense.setMimeData(&mime);
        QApplication::sendEvent(&scene, &onDense);
        QCOMPARE(refused.count(), 1);
        QVERIFY(refused.front().front().toString().contains("dense"));
        QVERIFY(doc.project().model.blocks[0].kind == spec::BlockKind::Dense);

        QVERIFY(applyPaletteEntry(doc, "router:sigmoid_bias", 0, doc.idAt(1)).isEmpty());
        QVERIFY(doc.project().model.blocks[1].router.kind == spec::RouterKind::SigmoidBias);
        QVERIFY(doc.problems().empty());  // aux set to 0 with it
        QVERIFY(!applyPaletteEntry(doc, "router:nonsense", 0, doc.idAt(1)).isEmpty());
    }

    void dragReordersBlocks() {
        ProjectDocument doc;
        NetworkScene scene(&doc);
        const BlockId dense = doc.idAt(0);
        scene.blockDragFinished(dense, scene.itemFor({ItemRef::Head, 0})->sceneBoundingRect().center() - QPointF(20, 0));
        QTRY_COMPARE(doc.indexOf(dense), 1);
        QCOMPARE(doc.undoStack()->count(), 1);
    }

    void selectionAndMultiSelection() {
        ProjectDocument doc;
        NetworkScene scene(&doc);
        QSignalSpy changed(&scene, &NetworkScene::selectionRefsChanged);
        scene.select({ItemRef::Block, doc.idAt(1)});
        QCOMPARE(scene.selectedBlocks(), std::vector<BlockId>{doc.idAt(1)});
        blockItem(scene, doc, 0)->setSelected(true);
        QCOMPARE(scene.selectedBlocks().size(), size_t(2));
        QVERIFY(changed.count() >= 2);
        // Selection survives the rebuild after an edit.
        const auto copies = doc.duplicateBlocks(scene.selectedBlocks());
        QCOMPARE(copies.size(), size_t(2));
        QCOMPARE(scene.selectedBlocks().size(), size_t(2));
        doc.removeBlocks(scene.selectedBlocks());
        QCOMPARE(doc.project().model.blocks.size(), size_t(2));
    }

    void invalidItemIsOutlinedWithTheCoreMessage() {
        ProjectDocument doc;
        NetworkScene scene(&doc);
        QVERIFY(!blockItem(scene, doc, 1)->invalid());
        QVERIFY(doc.edit("k", [](spec::Project& p) { p.model.blocks[1].router.k = 7; }).isEmpty());
        NodeItem* it = blockItem(scene, doc, 1);
        QVERIFY(it->invalid());
        QVERIFY(it->toolTip().contains("model.blocks[1].router.k"));
        QVERIFY(it->toolTip().contains("7 exceeds the 4 experts of this block"));
        QVERIFY(!blockItem(scene, doc, 0)->invalid());
    }

    void expertTilesTintByLoad() {
        ProjectDocument doc;
        NetworkScene scene(&doc);
        QVERIFY(!blockItem(scene, doc, 1)->hasLoads());
        scene.setExpertLoads({{}, {0.7, 0.28, 0.02, 0.0}});
        const NodeItem* it = blockItem(scene, doc, 1);
        QVERIFY(it->hasLoads());
        QCOMPARE(it->tiles()[0].load, 0.7 * 4);
        QVERIFY(it->tiles()[3].load < 0.1);  // dead expert
        QVERIFY(it->toolTip().size() > 0);
        scene.clearExpertLoads();
        QVERIFY(!blockItem(scene, doc, 1)->hasLoads());
    }

    void longChainsWrapIntoRows() {
        ProjectDocument doc;
        for (int i = 0; i < 8; ++i) doc.insertBlock(0, ProjectDocument::defaultMoeBlock());
        NetworkScene scene(&doc);
        scene.setViewAspect(0.8);  // a tall view
        QVERIFY(scene.rowCount() > 1);
        // The last block sits on a lower row than the first, and dropping before it keeps order.
        const auto* first = blockItem(scene, doc, 0);
        const auto* last = blockItem(scene, doc, 9);
        QVERIFY(last->pos().y() > first->pos().y());
        QCOMPARE(scene.insertIndexAt(last->sceneBoundingRect().center() - QPointF(1, 0)), 9);
        QCOMPARE(scene.insertIndexAt(first->sceneBoundingRect().center() + QPointF(1, 0)), 1);
        scene.setViewAspect(30);  // a very wide strip: one row
        QCOMPARE(scene.rowCount(), 1);
    }

    void lockedSceneRefusesDrops() {
        ProjectDocument doc;
        NetworkScene scene(&doc);
        scene.setLocked(true);
        QVERIFY(!(blockItem(scene, doc, 1)->flags() & QGraphicsItem::ItemIsMovable));
        QMimeData mime;
        mime.setData(kPaletteMime, "block:dense");
        QGraphicsSceneDragDropEvent enter(QEvent::GraphicsSceneDragEnter);
        enter.setMimeData(&mime);
        QApplication::sendEvent(&scene, &enter);
        QVERIFY(!enter.isAccepted());
    }

    void transformerPaletteEntriesInsertValidDefaults_data() {
        QTest::addColumn<QString>("entry");
        for (const char* e : {"block:attention_mha", "block:attention_gqa", "block:attention_mla", "block:dense_swiglu", "block:group"})
            QTest::newRow(e) << QString(e);
    }
    void transformerPaletteEntriesInsertValidDefaults() {
        QFETCH(QString, entry);
        ProjectDocument doc;
        makeTextModel(doc);
        QVERIFY2(doc.problems().empty(), qPrintable(problemTexts(doc).join("\n")));
        QVERIFY(doc.project().model.stem.kind == spec::StemKind::Embedding);
        QVERIFY(doc.project().model.input.isText());
        QCOMPARE(applyPaletteEntry(doc, entry, 0, 0), QString());
        QCOMPARE(int(doc.project().model.blocks.size()), 3);
        QVERIFY2(doc.problems().empty(), qPrintable(problemTexts(doc).join("\n")));
        // What the palette inserted survives a save and a reload.
        const auto back = spec::parseProject(spec::serializeProject(doc.project()));
        QVERIFY2(back.ok(), back.ok() ? "" : back.message().c_str());
        QVERIFY(back.value().model.blocks.front().kind == doc.project().model.blocks.front().kind);
        NetworkScene scene(&doc);
        QVERIFY(blockItem(scene, doc, 0));
    }

    void attentionDrawsItsHeads() {
        ProjectDocument doc;
        makeTextModel(doc);
        QCOMPARE(applyPaletteEntry(doc, "block:attention_gqa", 0, 0), QString());
        NetworkScene scene(&doc);
        const NodeItem* it = blockItem(scene, doc, 0);
        QVERIFY(it->isAttention());
        QCOMPARE(it->headCount(), 4);
        QCOMPARE(it->kvHeadCount(), 2);
        QVERIFY(it->tiles().empty());
    }

    void groupDrawsOnceAndExpandsToItsRepeats() {
        ProjectDocument doc;
        makeTextModel(doc);
        QCOMPARE(applyPaletteEntry(doc, "block:group", 0, 0), QString());
        QVERIFY(doc.edit("first dense", [](spec::Project& p) { p.model.blocks[0].firstDense = 1; }).isEmpty());
        NetworkScene scene(&doc);
        auto* frame = dynamic_cast<GroupItem*>(blockItem(scene, doc, 0));
        QVERIFY(frame);
        QCOMPARE(frame->badgeText(), QString("×4"));
        QVERIFY(!frame->expanded());
        auto childCards = [&] {
            int n = 0;
            for (NodeItem* c : scene.cards()) n += c->ref().block == doc.idAt(0) && c->ref().child >= 0;
            return n;
        };
        // Collapsed: attention and MoE once; the MoE card stands for the 3 routed repeats.
        QCOMPARE(childCards(), 2);
        const NodeItem* moe = scene.itemFor({ItemRef::Block, doc.idAt(0), 1});
        QVERIFY(moe && !moe->tiles().empty());
        QCOMPARE(int(moe->layers().size()), 3);
        QVERIFY(frame->boundingRect().contains(frame->mapFromItem(moe, moe->boundingRect().center())));
        // Children are selectable on the canvas and name their own item.
        scene.select({ItemRef::Block, doc.idAt(0), 1});
        QCOMPARE(scene.selectedRefs().size(), 1);
        QCOMPARE(scene.selectedRefs().front().child, 1);

        scene.setGroupExpanded(doc.idAt(0), true);
        QTRY_COMPARE(childCards(), 8);
        frame = dynamic_cast<GroupItem*>(blockItem(scene, doc, 0));
        QVERIFY(frame && frame->expanded());
        // The first repeat is dense: its "MoE" child draws no expert tiles.
        int withTiles = 0;
        for (NodeItem* c : scene.cards()) withTiles += c->ref().child == 1 && !c->tiles().empty();
        QCOMPARE(withTiles, 3);
        scene.setGroupExpanded(doc.idAt(0), false);
        QTRY_COMPARE(childCards(), 2);
    }

    void groupChildTintIsTheMeanOverRepeats() {
        ProjectDocument doc;
        makeTextModel(doc);
        QCOMPARE(applyPaletteEntry(doc, "block:group", 0, 0), QString());
        NetworkScene scene(&doc);
        // Flattened layers 1, 3, 5, 7 are the MoE repeats; expert 0's share there: 0.1, 0.3, 0.5, 0.7.
        std::vector<std::vector<double>> shares(8);
        for (int r = 0; r < 4; ++r) {
            const double a = 0.1 + 0.2 * r;
            shares[size_t(2 * r + 1)] = {a, (1 - a) / 3, (1 - a) / 3, (1 - a) / 3};
        }
        scene.setExpertLoads(shares);
        const NodeItem* moe = scene.itemFor({ItemRef::Block, doc.idAt(0), 1});
        QCOMPARE(moe->tiles().front().load, 0.4 * 4);  // mean share 0.4 x 4 routed experts
        QVERIFY(moe->toolTipAt(moe->tileRect(0).center()).contains("mean over 4 layers"));
    }

    void manyExpertsDrawAsStripsNeverCut() {
        ProjectDocument doc;
        QVERIFY(doc.edit("256 experts", [](spec::Project& p) {
            p.model.blocks[1].experts = 256;
            p.model.blocks[1].router.k = 8;
        }).isEmpty());
        NetworkScene scene(&doc);
        NodeItem* it = blockItem(scene, doc, 1);
        QCOMPARE(int(it->tiles().size()), 256);
        QVERIFY(it->tileLayout().strips);
        const QRectF bounds = it->boundingRect();
        for (int e = 0; e < 256; ++e) {
            const QRectF r = it->tileRect(e);
            QVERIFY2(bounds.contains(r), qPrintable(QString("expert %1 is outside its card").arg(e)));
            QVERIFY(r.width() < 5);
        }
        // Every cell is hoverable and tinted by its own load.
        QCOMPARE(it->toolTipAt(it->tileRect(200).center()).section('\n', 0, 0), QString("Expert 200 (FFN)"));
        std::vector<std::vector<double>> shares(2);
        shares[1].assign(256, 0.5 / 255);
        shares[1][200] = 0.5;
        scene.setExpertLoads(shares);
        QVERIFY(it->toolTipAt(it->tileRect(200).center()).contains("128.00x"));
        QCOMPARE(it->tiles()[200].load, 0.5 * 256);
    }

    void zoomAndFit() {
        ProjectDocument doc;
        for (int i = 0; i < 6; ++i) doc.insertBlock(0, ProjectDocument::defaultMoeBlock());
        NetworkScene scene(&doc);
        NetworkView view(&scene);
        view.resize(1000, 640);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.fitAll();
        const double fitted = view.zoom();
        QVERIFY(fitted < 1.0);  // eight blocks do not fit 1000 px at 1:1
        QVERIFY(fitted >= view.minFitZoom());  // ... but fit above the text-size floor
        QRectF all;
        for (auto* it : scene.items())
            if (dynamic_cast<NodeItem*>(it)) all |= it->sceneBoundingRect();
        const QRect shown = view.mapFromScene(all).boundingRect();
        QVERIFY(view.viewport()->rect().adjusted(-2, -2, 2, 2).contains(shown));
        // A long chain in a wide-but-short view wraps into rows; reading order is kept.
        QVERIFY(scene.rowCount() >= 1);
        view.zoomBy(2);
        QCOMPARE(view.zoom(), fitted * 2);
    }

    // Router labels wrap onto a second line rather than being cut; MoE cards carry the same
    // norm/residual line as dense ones; the router kind reads "top-k" as everywhere else.
    void routerLabelsWrapAndTilesMatchDenseDetail() {
        ProjectDocument doc;
        QVERIFY(doc.edit("groups", [](spec::Project& p) {
            auto& r = p.model.blocks[1].router;
            p.model.blocks[1].experts = 16;
            r.groups = 4;
            r.topkGroups = 2;
        }).isEmpty());
        NetworkScene scene(&doc);
        const NodeItem* dense = blockItem(scene, doc, 0);
        const NodeItem* moe = blockItem(scene, doc, 1);
        QVERIFY2(moe->routerText().startsWith("router: top-k"), qPrintable(moe->routerText()));
        for (const auto& e : paletteEntries())
            if (e.id == "router:topk") QCOMPARE(e.title, QString("Router: top-k"));
        QVERIFY(moe->lines().contains(dense->lines().at(2)));  // "layernorm · residual"
        const double room = moe->boundingRect().width() - 8 - 2 * 12 * std::max(1.0, QFontMetricsF(QApplication::font()).height() / 16.0) - 8;
        const double need = QFontMetricsF(QApplication::font()).horizontalAdvance(moe->routerText());
        QVERIFY2(need <= room * moe->routerLines(), qPrintable(QString("router text %1 px on %2 line(s) of %3 px").arg(need).arg(moe->routerLines()).arg(room)));
        // The tiles start below the (possibly two-line) router bar and stay inside the card.
        QVERIFY(moe->tileRect(0).top() > moe->lines().size() * QFontMetricsF(QApplication::font()).height() + moe->routerLines() * QFontMetricsF(QApplication::font()).height());
        for (int e = 0; e < int(moe->tiles().size()); ++e) QVERIFY(moe->boundingRect().contains(moe->tileRect(e)));
    }

    void fitOfABigModelKeepsTextLegibleAndScrolls() {
        ProjectDocument doc;
        for (int i = 0; i < 40; ++i) doc.insertBlock(0, ProjectDocument::defaultMoeBlock());
        NetworkScene scene(&doc);
        NetworkView view(&scene);
        view.resize(600, 400);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.fitAll();
        const double textPx = view.zoom() * QFontInfo(QApplication::font()).pixelSize();
        QVERIFY2(textPx >= NetworkView::kMinTextPx - 1e-6, qPrintable(QString("body text %1 px after fit").arg(textPx)));
        // The model does not fit: the view scrolls, and the fit shows its start (the input).
        QVERIFY(view.horizontalScrollBar()->maximum() > 0 || view.verticalScrollBar()->maximum() > 0);
        const QRect input = view.mapFromScene(scene.itemFor({ItemRef::Input, 0})->sceneBoundingRect()).boundingRect();
        QVERIFY(view.viewport()->rect().intersects(input));
    }

    void tintLegendExplainsTheLoadColours() {
        ProjectDocument doc;
        NetworkScene scene(&doc);
        NetworkView view(&scene);
        view.resize(900, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QVERIFY(view.legendRect().isEmpty());  // nothing tinted, nothing to explain
        std::vector<std::vector<double>> shares(2);
        shares[1] = {0.0, 0.5, 0.25, 0.25};
        scene.setExpertLoads(shares);
        const QRectF legend = view.legendRect();
        QVERIFY(!legend.isEmpty());
        QVERIFY(QRectF(view.viewport()->rect()).contains(legend));
        // The legend is drawn: its swatches carry the tint colours the tiles use.
        const QImage img = view.viewport()->grab().toImage();
        auto hasColour = [&](QColor want) {
            for (int y = int(legend.top()); y < int(legend.bottom()); ++y)
                for (int x = int(legend.left()); x < int(legend.right()); ++x) {
                    const QColor c = img.pixelColor(QPoint(x, y) * img.devicePixelRatio());
                    if (std::abs(c.red() - want.red()) + std::abs(c.green() - want.green()) + std::abs(c.blue() - want.blue()) < 12) return true;
                }
            return false;
        };
        QVERIFY(hasColour(loadTint(0.0)));
        QVERIFY(hasColour(loadTint(2.0)));
        // A small canvas (classroom mode at 1280x800) gets the one-line legend along the bottom,
        // still with every swatch, so it does not hide the cards.
        const double fullHeight = legend.height();
        view.resize(400, 260);
        QTRY_COMPARE(view.viewport()->height() < 260, true);
        const QRectF compact = view.legendRect();
        QVERIFY(QRectF(view.viewport()->rect()).contains(compact));
        QVERIFY2(compact.height() < 0.5 * fullHeight, qPrintable(QString("one-line legend %1 px high").arg(compact.height())));
        QVERIFY(compact.height() < 0.2 * view.viewport()->height());
        QTest::qWait(50);
        const QImage small = view.viewport()->grab().toImage();
        auto hasColourIn = [&](const QImage& im, const QRectF& r, QColor want) {
            for (int y = int(r.top()); y < int(r.bottom()); ++y)
                for (int x = int(r.left()); x < int(r.right()); ++x) {
                    const QColor c = im.pixelColor(QPoint(x, y) * im.devicePixelRatio());
                    if (std::abs(c.red() - want.red()) + std::abs(c.green() - want.green()) + std::abs(c.blue() - want.blue()) < 12) return true;
                }
            return false;
        };
        for (double ratio : {0.0, 0.5, 1.0, 2.0}) QVERIFY2(hasColourIn(small, compact, loadTint(ratio)), qPrintable(QString::number(ratio)));
        scene.clearExpertLoads();
        QVERIFY(view.legendRect().isEmpty());
    }
};

QTEST_MAIN(TestCanvas)
#include "tst_canvas.moc"
