#include "canvas.h"

#include <QApplication>
#include <QFontMetricsF>
#include <QGraphicsSceneDragDropEvent>
#include <QKeyEvent>
#include <QMimeData>
#include <QPainter>
#include <QScrollBar>
#include <QTimer>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>
#include <set>

#include "format.h"
#include "moe/spec/derived.h"
#include "palette.h"
#include "theme.h"

namespace moe::studio {
namespace spec = moe::spec;

namespace {

QString keyOf(const ItemRef& r) {
    switch (r.kind) {
        case ItemRef::Input: return QStringLiteral("input");
        case ItemRef::Stem: return QStringLiteral("stem");
        case ItemRef::Head: return QStringLiteral("head");
        case ItemRef::Block: return QStringLiteral("block/%1").arg(r.block);
        default: return {};
    }
}

QString qs(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<int>(s.size())); }

QString routerText(const spec::ModelSpec& m, int i) {
    const auto& r = m.blocks[static_cast<size_t>(i)].router;
    QString t = QObject::tr("router: %1").arg(qs(spec::toString(r.kind)));
    switch (r.kind) {
        case spec::RouterKind::ExpertChoice: return t + QObject::tr(" · capacity ×%1").arg(r.capacityFactor);
        case spec::RouterKind::Dynamic: return t + QObject::tr(" · τ %1 · %2–%3").arg(r.tau).arg(r.minExperts).arg(r.maxExperts);
        default: return t + QObject::tr(" · k = %1").arg(m.kOf(i));
    }
}

double sceneScale() { return std::max(1.0, QFontMetricsF(QApplication::font()).height() / 16.0); }

}  // namespace

NetworkScene::NetworkScene(ProjectDocument* doc, QObject* parent) : QGraphicsScene(parent), m_doc(doc) {
    connect(doc, &ProjectDocument::changed, this, &NetworkScene::rebuild);
    connect(this, &QGraphicsScene::selectionChanged, this, [this] {
        if (!m_rebuilding) Q_EMIT selectionRefsChanged();
    });
    rebuild();
}

void NetworkScene::rebuild() {
    m_rebuilding = true;
    std::set<QString> selected;
    for (const auto& r : selectedRefs()) selected.insert(keyOf(r));
    m_marker = nullptr;
    m_items.clear();
    clear();
    setFont(QApplication::font());

    const CanvasColors& c = canvasColors();
    const spec::ModelSpec& m = m_doc->project().model;
    const spec::ModelFigures f = spec::computeFigures(m);
    const double s = sceneScale();
    const double gap = 56 * s;
    const double fixedW = 170 * s;
    const double blockW = 210 * s;
    std::vector<NodeItem*> chain;

    auto add = [&](ItemRef ref, double width, QColor accent, QString title, QStringList lines, QString footer) {
        auto* it = new NodeItem(ref, QSizeF(width, 60 * s));
        it->setFlag(QGraphicsItem::ItemIsMovable, ref.kind == ItemRef::Block && !m_locked);
        it->setAccent(accent);
        it->setTexts(std::move(title), std::move(lines), std::move(footer));
        addItem(it);
        m_items.insert(keyOf(ref), it);
        chain.push_back(it);
        return it;
    };

    const auto& in = m.input;
    QStringList inLines{qs(spec::toString(in.dataset)),
                        tr("%1 token%2 × %3 features").arg(in.tokensPerSample()).arg(in.tokensPerSample() == 1 ? "" : "s").arg(in.tokenDim()),
                        tr("%1 classes").arg(in.numClasses())};
    add({ItemRef::Input, 0}, fixedW, c.input, tr("Input"), inLines, tr("batch %1").arg(m_doc->project().training.batch));
    add({ItemRef::Stem, 0}, fixedW, c.stem, tr("Stem"),
        {tr("Linear %1 → %2").arg(in.tokenDim()).arg(m.stem.dModel), qs(spec::toString(m.stem.activation))},
        tr("params %1").arg(humanCount(static_cast<double>(f.stemParams))));

    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        const spec::BlockSpec& b = m.blocks[static_cast<size_t>(i)];
        const spec::BlockFigures& bf = f.blocks[static_cast<size_t>(i)];
        const ItemRef ref{ItemRef::Block, m_doc->idAt(i)};
        const QString title = b.label.empty() ? tr("Block %1").arg(i) : tr("%1 · %2").arg(i).arg(QString::fromStdString(b.label));
        const QString ffn = tr("FFN %1→%2 %3").arg(m.stem.dModel).arg(b.ffn.hidden).arg(qs(spec::toString(b.ffn.activation)));
        const QString footer = tr("params %1 · active %2").arg(humanCount(static_cast<double>(bf.params)), humanCount(bf.activeParams));
        if (b.kind == spec::BlockKind::Dense) {
            add(ref, blockW, c.dense, title, {tr("dense"), ffn, qs(spec::toString(b.norm)) + (b.residual ? tr(" · residual") : QString())}, footer);
            continue;
        }
        std::vector<TileSpec> tiles;
        for (int sh = 0; sh < b.sharedExperts; ++sh) tiles.push_back({TileSpec::Shared, sh, -1});
        const int ffnExperts = bf.experts;
        const int routed = ffnExperts + b.zeroExperts.total();
        int columns = 4, shown = 0;
        double tileSize = 20;
        NodeItem::moeCardSize(routed, b.sharedExperts, &columns, &tileSize, &shown);
        const std::vector<double>* loads = i < static_cast<int>(m_loads.size()) && !m_loads[static_cast<size_t>(i)].empty()
                                               ? &m_loads[static_cast<size_t>(i)] : nullptr;
        for (int e = 0; e < shown; ++e) {
            TileSpec t;
            t.index = e;
            t.kind = e < ffnExperts ? TileSpec::Ffn
                     : e < ffnExperts + b.zeroExperts.zero ? TileSpec::Zero
                     : e < ffnExperts + b.zeroExperts.zero + b.zeroExperts.copy ? TileSpec::Copy : TileSpec::Constant;
            if (loads && e < static_cast<int>(loads->size())) t.load = (*loads)[static_cast<size_t>(e)] * routed;
            tiles.push_back(t);
        }
        QString experts = tr("%1 experts").arg(ffnExperts);
        if (b.sharedExperts) experts += tr(" + %1 shared").arg(b.sharedExperts);
        if (b.zeroExperts.total()) experts += tr(" + %1 zero-compute").arg(b.zeroExperts.total());
        QString losses = tr("aux %1").arg(b.losses.aux);
        if (b.losses.z > 0) losses += tr(" · z %1").arg(b.losses.z);
        if (!b.capacity.dropless) losses += tr(" · capacity ×%1").arg(b.capacity.factor);
        auto* it = new NodeItem(ref, QSizeF(blockW, 60 * s));
        it->setFlag(QGraphicsItem::ItemIsMovable, !m_locked);
        it->setAccent(c.moe);
        it->setMoe(routerText(m, i), std::move(tiles), columns, tileSize, routed - shown);
        it->setTexts(title, {experts, ffn, losses}, footer);
        addItem(it);
        m_items.insert(keyOf(ref), it);
        chain.push_back(it);
    }
    add({ItemRef::Head, 0}, fixedW, c.head, tr("Head"),
        {tr("mean-pool tokens"), tr("Linear %1 → %2").arg(m.stem.dModel).arg(in.numClasses()),
         tr("norm: %1").arg(qs(spec::toString(m.head.norm)))},
        tr("params %1").arg(humanCount(static_cast<double>(f.headParams))));

    // Left to right, centred on y = 0, arrows between neighbours.
    double x = 0;
    m_gapX.clear();
    m_markerHeight = 0;
    for (size_t k = 0; k < chain.size(); ++k) {
        NodeItem* it = chain[k];
        const QSizeF sz = it->boundingRect().size() - QSizeF(8, 8);
        m_markerHeight = std::max(m_markerHeight, sz.height());
        if (k >= 2) m_gapX.push_back(x - gap / 2);  // gap before block k-2 (and before the head)
        it->setPos(x, -sz.height() / 2);
        if (k > 0) {
            const NodeItem* prev = chain[k - 1];
            const double px = prev->pos().x() + prev->boundingRect().width() - 8;
            addItem(new EdgeItem(QPointF(px + 2, 0), QPointF(x - 2, 0)));
        }
        x += sz.width() + gap;
    }

    for (auto it = m_items.begin(); it != m_items.end(); ++it) {
        QStringList msgs;
        for (const auto& p : m_doc->problemsFor(it.value()->ref()))
            msgs << QString::fromStdString(p.diagnostic.path + ": " + p.diagnostic.message);
        it.value()->setProblems(msgs);
        if (selected.count(it.key())) it.value()->setSelected(true);
    }
    setSceneRect(itemsBoundingRect().adjusted(-400, -300, 400, 300));
    m_rebuilding = false;
    Q_EMIT selectionRefsChanged();
}

QList<ItemRef> NetworkScene::selectedRefs() const {
    QList<ItemRef> out;
    for (QGraphicsItem* g : selectedItems())
        if (auto* n = dynamic_cast<NodeItem*>(g)) out << n->ref();
    std::sort(out.begin(), out.end(), [this](const ItemRef& a, const ItemRef& b) {
        auto order = [this](const ItemRef& r) {
            switch (r.kind) {
                case ItemRef::Input: return -2;
                case ItemRef::Stem: return -1;
                case ItemRef::Block: return m_doc->indexOf(r.block);
                case ItemRef::Head: return 1 << 20;
                default: return 1 << 21;
            }
        };
        return order(a) < order(b);
    });
    return out;
}

std::vector<BlockId> NetworkScene::selectedBlocks() const {
    std::vector<BlockId> out;
    for (const auto& r : selectedRefs())
        if (r.kind == ItemRef::Block) out.push_back(r.block);
    return out;
}

void NetworkScene::select(const ItemRef& ref) {
    m_rebuilding = true;
    clearSelection();
    if (NodeItem* it = itemFor(ref)) {
        it->setSelected(true);
        for (QGraphicsView* v : views()) v->ensureVisible(it, 40, 40);
    }
    m_rebuilding = false;
    Q_EMIT selectionRefsChanged();
}

NodeItem* NetworkScene::itemFor(const ItemRef& ref) const { return m_items.value(keyOf(ref), nullptr); }

void NetworkScene::setExpertLoads(std::vector<std::vector<double>> shares) {
    m_loads = std::move(shares);
    rebuild();
}

int NetworkScene::insertIndexAt(qreal x) const {
    int index = 0;
    for (BlockId id : m_doc->blockIds())
        if (NodeItem* it = itemFor({ItemRef::Block, id}); it && it->pos().x() + it->boundingRect().width() / 2 - 4 < x) ++index;
    return index;
}

void NetworkScene::blockDragFinished(BlockId id, qreal centerX) {
    // Rebuilding deletes the item that is still inside its own mouse handler: do it afterwards.
    QTimer::singleShot(0, this, [this, id, centerX] {
        const int from = m_doc->indexOf(id);
        int to = 0;
        const auto& ids = m_doc->blockIds();
        for (size_t i = 0; i < ids.size(); ++i) {
            if (ids[i] == id) continue;
            if (NodeItem* it = itemFor({ItemRef::Block, ids[i]}); it && it->pos().x() + it->boundingRect().width() / 2 - 4 < centerX) ++to;
        }
        if (from >= 0 && to != from) m_doc->moveBlock(id, to);
        else rebuild();  // snap back
    });
}

NodeItem* NetworkScene::blockAt(QPointF pos) const {
    for (QGraphicsItem* g : items(pos))
        if (auto* n = dynamic_cast<NodeItem*>(g); n && n->ref().kind == ItemRef::Block) return n;
    return nullptr;
}

void NetworkScene::showMarker(int index) {
    if (m_gapX.empty()) return;
    if (!m_marker) {
        m_marker = new InsertMarker(m_markerHeight);
        m_marker->setZValue(10);
        addItem(m_marker);
    }
    index = std::clamp(index, 0, static_cast<int>(m_gapX.size()) - 1);
    m_marker->setPos(m_gapX[static_cast<size_t>(index)], 0);
    m_marker->show();
}

void NetworkScene::hideMarker() {
    if (m_marker) m_marker->hide();
}

void NetworkScene::setLocked(bool locked) {
    if (m_locked == locked) return;
    m_locked = locked;
    rebuild();
}

void NetworkScene::dragEnterEvent(QGraphicsSceneDragDropEvent* e) {
    e->setAccepted(!m_locked && e->mimeData()->hasFormat(QString::fromLatin1(kPaletteMime)));
}

void NetworkScene::dragMoveEvent(QGraphicsSceneDragDropEvent* e) {
    const QString id = QString::fromUtf8(e->mimeData()->data(QString::fromLatin1(kPaletteMime)));
    if (id.isEmpty()) return e->ignore();
    if (isBlockEntry(id)) {
        showMarker(insertIndexAt(e->scenePos().x()));
        e->acceptProposedAction();
        return;
    }
    hideMarker();
    NodeItem* target = blockAt(e->scenePos());
    const int index = target ? m_doc->indexOf(target->ref().block) : -1;
    const bool moe = index >= 0 && m_doc->project().model.blocks[static_cast<size_t>(index)].kind == spec::BlockKind::Moe;
    if (moe) e->acceptProposedAction();
    else e->ignore();
}

void NetworkScene::dragLeaveEvent(QGraphicsSceneDragDropEvent*) { hideMarker(); }

void NetworkScene::dropEvent(QGraphicsSceneDragDropEvent* e) {
    hideMarker();
    const QString id = QString::fromUtf8(e->mimeData()->data(QString::fromLatin1(kPaletteMime)));
    if (id.isEmpty()) return;
    NodeItem* target = blockAt(e->scenePos());
    const QString why = applyPaletteEntry(*m_doc, id, insertIndexAt(e->scenePos().x()), target ? target->ref().block : 0);
    if (!why.isEmpty()) Q_EMIT message(why);
    e->acceptProposedAction();
}

void NetworkScene::drawBackground(QPainter* p, const QRectF& rect) {
    const CanvasColors& c = canvasColors();
    p->fillRect(rect, c.background);
    const double step = 24;
    p->setPen(QPen(c.grid, 2));
    for (double x = std::floor(rect.left() / step) * step; x < rect.right(); x += step)
        for (double y = std::floor(rect.top() / step) * step; y < rect.bottom(); y += step) p->drawPoint(QPointF(x, y));
}

// ---- view ------------------------------------------------------------------------------------

NetworkView::NetworkView(NetworkScene* scene, QWidget* parent) : QGraphicsView(scene, parent) {
    setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing);
    setDragMode(QGraphicsView::RubberBandDrag);
    setRubberBandSelectionMode(Qt::IntersectsItemShape);
    setAcceptDrops(true);
    setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
    setViewportUpdateMode(QGraphicsView::BoundingRectViewportUpdate);
    setFrameShape(QFrame::NoFrame);
    setFocusPolicy(Qt::StrongFocus);
}

void NetworkView::fitAll() {
    QRectF r;
    for (QGraphicsItem* it : scene()->items())
        if (dynamic_cast<NodeItem*>(it)) r |= it->sceneBoundingRect();
    if (r.isEmpty()) return;
    fitInView(r.adjusted(-30, -30, 30, 30), Qt::KeepAspectRatio);
    // Never blow small models up past 1.6x: text gets blurry and huge.
    if (zoom() > 1.6) {
        setTransform(QTransform::fromScale(1.6, 1.6));
        centerOn(r.center());
    }
}

void NetworkView::zoomBy(double factor) {
    const double z = zoom() * factor;
    if (z < 0.08 || z > 6) return;
    scale(factor, factor);
}

void NetworkView::wheelEvent(QWheelEvent* e) {
    if (e->modifiers() & Qt::ControlModifier) {
        zoomBy(std::pow(1.0015, e->angleDelta().y()));
        e->accept();
        return;
    }
    QGraphicsView::wheelEvent(e);
}

void NetworkView::mousePressEvent(QMouseEvent* e) {
    // Middle button (or Alt + left) pans.
    if (e->button() == Qt::MiddleButton || (e->button() == Qt::LeftButton && (e->modifiers() & Qt::AltModifier))) {
        m_panning = true;
        m_panStart = e->pos();
        viewport()->setCursor(Qt::ClosedHandCursor);
        e->accept();
        return;
    }
    QGraphicsView::mousePressEvent(e);
}

void NetworkView::mouseMoveEvent(QMouseEvent* e) {
    if (m_panning) {
        const QPoint d = e->pos() - m_panStart;
        m_panStart = e->pos();
        horizontalScrollBar()->setValue(horizontalScrollBar()->value() - d.x());
        verticalScrollBar()->setValue(verticalScrollBar()->value() - d.y());
        e->accept();
        return;
    }
    QGraphicsView::mouseMoveEvent(e);
}

void NetworkView::mouseReleaseEvent(QMouseEvent* e) {
    if (m_panning) {
        m_panning = false;
        viewport()->unsetCursor();
        e->accept();
        return;
    }
    QGraphicsView::mouseReleaseEvent(e);
}

void NetworkView::keyPressEvent(QKeyEvent* e) {
    if (e->key() == Qt::Key_Plus || e->key() == Qt::Key_Equal) return zoomBy(1.2);
    if (e->key() == Qt::Key_Minus) return zoomBy(1 / 1.2);
    QGraphicsView::keyPressEvent(e);
}

}  // namespace moe::studio
