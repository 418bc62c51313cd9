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

// Clearing the items changes the selection; nobody is listening any more.
NetworkScene::~NetworkScene() { blockSignals(true); }

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
    const double blockW = 224 * s;
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

    // Left to right; a long chain wraps into rows so that it fills a view of m_aspect.
    const int n = static_cast<int>(chain.size());
    std::vector<QSizeF> sizes;
    for (NodeItem* it : chain) sizes.push_back(it->boundingRect().size() - QSizeF(8, 8));
    m_rowGap = 70 * s;
    auto rowsFor = [&](int rows) {
        const int perRow = (n + rows - 1) / rows;
        std::vector<std::pair<int, int>> out;  // [first, last)
        for (int k = 0; k < n; k += perRow) out.push_back({k, std::min(n, k + perRow)});
        return out;
    };
    int bestRows = 1;
    double bestScore = 0;
    for (int rows = 1; rows <= std::max(1, n / 2); ++rows) {
        const auto split = rowsFor(rows);
        double w = 0, h = 0;
        for (auto [a, b] : split) {
            double rw = 0, rh = 0;
            for (int k = a; k < b; ++k) {
                rw += sizes[static_cast<size_t>(k)].width() + gap;
                rh = std::max(rh, sizes[static_cast<size_t>(k)].height());
            }
            w = std::max(w, rw + gap);
            h += rh + m_rowGap;
        }
        const double score = std::min(m_aspect / w, 1.0 / h);
        if (score > bestScore * 1.08) {  // a new row must pay for itself
            bestScore = score;
            bestRows = rows;
        }
    }
    m_rowY.clear();
    m_gaps.clear();
    m_markerHeight = 0;
    double y = 0;
    for (auto [a, b] : rowsFor(bestRows)) {
        double rh = 0;
        for (int k = a; k < b; ++k) rh = std::max(rh, sizes[static_cast<size_t>(k)].height());
        const double cy = y + rh / 2;
        m_rowY.push_back(cy);
        m_markerHeight = std::max(m_markerHeight, rh);
        double x = 0;
        for (int k = a; k < b; ++k) {
            const QSizeF sz = sizes[static_cast<size_t>(k)];
            chain[static_cast<size_t>(k)]->setPos(x, cy - sz.height() / 2);
            if (k >= 2) m_gaps.push_back(QPointF(x - gap / 2, cy));  // gap before block k-2 (and before the head)
            x += sz.width() + gap;
        }
        y += rh + m_rowGap;
    }
    for (int k = 1; k < n; ++k) {
        const NodeItem* prev = chain[static_cast<size_t>(k - 1)];
        const NodeItem* next = chain[static_cast<size_t>(k)];
        const QPointF from(prev->pos().x() + sizes[static_cast<size_t>(k - 1)].width() + 2, prev->pos().y() + sizes[static_cast<size_t>(k - 1)].height() / 2);
        const QPointF to(next->pos().x() - 2, next->pos().y() + sizes[static_cast<size_t>(k)].height() / 2);
        QPolygonF line;
        line << from;
        if (to.x() < from.x()) {  // wrapped: down the right side, back along the gap between rows
            const double midY = (prev->pos().y() + sizes[static_cast<size_t>(k - 1)].height() + next->pos().y()) / 2;
            line << QPointF(from.x() + gap / 3, from.y()) << QPointF(from.x() + gap / 3, midY) << QPointF(to.x() - gap / 3, midY)
                 << QPointF(to.x() - gap / 3, to.y());
        }
        line << to;
        addItem(new EdgeItem(line));
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
    // Telemetry arrives several times a second: recolour the tiles in place, no relayout.
    const auto& m = m_doc->project().model;
    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        NodeItem* it = itemFor({ItemRef::Block, m_doc->idAt(i)});
        if (!it) continue;
        const std::vector<double>* loads =
            i < static_cast<int>(m_loads.size()) && !m_loads[static_cast<size_t>(i)].empty() ? &m_loads[static_cast<size_t>(i)] : nullptr;
        it->setLoads(loads ? *loads : std::vector<double>{}, m.routedExpertsOf(i));
    }
}

int NetworkScene::rowOf(qreal y) const {
    int best = 0;
    for (int r = 1; r < static_cast<int>(m_rowY.size()); ++r)
        if (std::abs(m_rowY[static_cast<size_t>(r)] - y) < std::abs(m_rowY[static_cast<size_t>(best)] - y)) best = r;
    return best;
}

double NetworkScene::orderKey(QPointF p) const { return rowOf(p.y()) * 1e7 + p.x(); }

int NetworkScene::insertIndexAt(QPointF pos) const {
    const double key = orderKey(pos);
    int index = 0;
    for (BlockId id : m_doc->blockIds())
        if (NodeItem* it = itemFor({ItemRef::Block, id}); it && orderKey(it->sceneBoundingRect().center()) < key) ++index;
    return index;
}

void NetworkScene::blockDragFinished(BlockId id, QPointF center) {
    // Rebuilding deletes the item that is still inside its own mouse handler: do it afterwards.
    QTimer::singleShot(0, this, [this, id, center] {
        const int from = m_doc->indexOf(id);
        const double key = orderKey(center);
        int to = 0;
        for (BlockId other : m_doc->blockIds()) {
            if (other == id) continue;
            if (NodeItem* it = itemFor({ItemRef::Block, other}); it && orderKey(it->sceneBoundingRect().center()) < key) ++to;
        }
        if (from >= 0 && to != from) m_doc->moveBlock(id, to);
        else rebuild();  // snap back
    });
}

void NetworkScene::setViewAspect(double aspect) {
    if (aspect <= 0 || std::abs(aspect - m_aspect) / m_aspect < 0.15) return;
    m_aspect = aspect;
    const int rows = rowCount();
    rebuild();
    if (rows != rowCount()) Q_EMIT relaidOut();
}

NodeItem* NetworkScene::blockAt(QPointF pos) const {
    for (QGraphicsItem* g : items(pos))
        if (auto* n = dynamic_cast<NodeItem*>(g); n && n->ref().kind == ItemRef::Block) return n;
    return nullptr;
}

void NetworkScene::showMarker(int index) {
    if (m_gaps.empty()) return;
    if (!m_marker) {
        m_marker = new InsertMarker(m_markerHeight);
        m_marker->setZValue(10);
        addItem(m_marker);
    }
    index = std::clamp(index, 0, static_cast<int>(m_gaps.size()) - 1);
    m_marker->setPos(m_gaps[static_cast<size_t>(index)]);
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
        showMarker(insertIndexAt(e->scenePos()));
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
    const QString why = applyPaletteEntry(*m_doc, id, insertIndexAt(e->scenePos()), target ? target->ref().block : 0);
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
    connect(scene, &NetworkScene::relaidOut, this, [this] { QTimer::singleShot(0, this, &NetworkView::fitAll); });
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

void NetworkView::resizeEvent(QResizeEvent* e) {
    QGraphicsView::resizeEvent(e);
    if (auto* s = dynamic_cast<NetworkScene*>(scene()); s && height() > 0) s->setViewAspect(static_cast<double>(width()) / height());
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
