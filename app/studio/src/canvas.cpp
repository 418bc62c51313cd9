#include "canvas.h"

#include <QApplication>
#include <QFontInfo>
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

// The flattened model and its figures, with the map from (block, repeat, child) to layers.
struct FlatModel {
    spec::ModelSpec model;
    std::vector<spec::LayerOrigin> origins;
    spec::ModelFigures figures;
    explicit FlatModel(const spec::ModelSpec& m) : model(m.flattened()), origins(m.layerOrigins()), figures(spec::computeFigures(model)) {}
    int layerOf(int block, int repeat, int child) const {
        for (int l = 0; l < static_cast<int>(origins.size()); ++l) {
            const auto& o = origins[static_cast<size_t>(l)];
            if (o.block == block && o.repeat == repeat && o.child == child) return l;
        }
        return -1;
    }
    const spec::BlockFigures* figuresOf(int layer) const {
        return layer >= 0 && layer < static_cast<int>(figures.blocks.size()) ? &figures.blocks[static_cast<size_t>(layer)] : nullptr;
    }
};

namespace {

QString keyOf(const ItemRef& r) {
    switch (r.kind) {
        case ItemRef::Input: return QStringLiteral("input");
        case ItemRef::Stem: return QStringLiteral("stem");
        case ItemRef::Head: return QStringLiteral("head");
        case ItemRef::Block: return r.child < 0 ? QStringLiteral("block/%1").arg(r.block) : QStringLiteral("block/%1/%2").arg(r.block).arg(r.child);
        default: return {};
    }
}

// `b` is flattened layer `layer` of `m` (the schedules resolve there).
QString routerText(const spec::ModelSpec& m, const spec::BlockSpec& b, int layer) {
    const auto& r = b.router;
    QString t = QObject::tr("router: %1").arg(routerKindName(r.kind));
    switch (r.kind) {
        case spec::RouterKind::ExpertChoice: return t + QObject::tr(" · capacity ×%1").arg(r.capacityFactor);
        case spec::RouterKind::Dynamic: return t + QObject::tr(" · τ %1 · %2–%3").arg(r.tau).arg(r.minExperts).arg(r.maxExperts);
        default: break;
    }
    t += QObject::tr(" · k = %1").arg(m.kOf(layer));
    if (r.groups > 1) t += QObject::tr(" · %1 of %2 groups").arg(r.topkGroups).arg(r.groups);
    return t;
}

QString ffnText(const spec::ModelSpec& m, const spec::FfnSpec& f) {
    return QObject::tr("FFN %1→%2 %3%4").arg(m.stem.dModel).arg(f.hidden).arg(qs(spec::toString(f.activation)),
                                                                               spec::isGated(f.activation) ? QObject::tr(" (gated)") : QString());
}

QString kindName(spec::BlockKind k) {
    switch (k) {
        case spec::BlockKind::Dense: return QObject::tr("dense");
        case spec::BlockKind::Moe: return QObject::tr("MoE");
        case spec::BlockKind::Attention: return QObject::tr("attention");
        case spec::BlockKind::Group: return QObject::tr("layer group");
    }
    return {};
}

QString figuresFooter(const spec::BlockFigures& bf, int layers = 1) {
    QString t = QObject::tr("params %1 · active %2").arg(humanCount(static_cast<double>(bf.params)), humanCount(bf.activeParams));
    return layers > 1 ? t + QObject::tr(" per layer") : t;
}

double sceneScale() { return std::max(1.0, QFontMetricsF(QApplication::font()).height() / 16.0); }

// A card for flattened layer `layer` (a dense, MoE or attention block).
NodeItem* blockCard(const FlatModel& fm, const ItemRef& ref, int layer, const QString& title, QString footer, double width) {
    const CanvasColors& c = canvasColors();
    const spec::ModelSpec& m = fm.model;
    const spec::BlockSpec& b = m.blocks[static_cast<size_t>(layer)];
    const spec::BlockFigures* bf = fm.figuresOf(layer);
    if (footer.isEmpty() && bf) footer = figuresFooter(*bf);
    auto* it = new NodeItem(ref, QSizeF(width, 60 * sceneScale()));
    const QString norm = qs(spec::toString(b.norm)) + (b.residual ? QObject::tr(" · residual") : QString());
    switch (b.kind) {
        case spec::BlockKind::Attention: {
            const auto& a = b.attention;
            it->setAccent(c.attention);
            const bool mla = a.kind == spec::AttentionKind::Mla;
            QString shape = mla ? QObject::tr("MLA · %1 heads · q %2+%3, v %4").arg(a.heads).arg(a.qkNopeHeadDim).arg(a.qkRopeHeadDim).arg(a.vHeadDim)
                                : QObject::tr("%1 · %2 heads × %3").arg(qs(spec::toString(a.kind)).toUpper()).arg(a.heads).arg(a.resolvedHeadDim(m.stem.dModel));
            QStringList opts;
            opts << (a.causal ? QObject::tr("causal") : QObject::tr("bidirectional"));
            if (!mla) opts << QObject::tr("%1 KV heads").arg(a.kvHeads);
            if (a.window > 0) opts << QObject::tr("window %1").arg(a.window);
            if (a.qkNorm) opts << QObject::tr("QK-norm");
            it->setAttention(a.heads, mla ? 1 : a.kvHeads, mla ? QObject::tr("latent %1 + rope %2").arg(a.kvLoraRank).arg(a.qkRopeHeadDim) : QString());
            it->setTexts(title, {shape, opts.join(QStringLiteral(" · ")), norm}, footer);
            return it;
        }
        case spec::BlockKind::Moe: {
            std::vector<TileSpec> tiles;
            for (int sh = 0; sh < b.sharedExperts; ++sh) tiles.push_back({TileSpec::Shared, sh, -1});
            const int ffnExperts = m.expertsOf(layer);
            const int routed = ffnExperts + b.zeroExperts.total();
            for (int e = 0; e < routed; ++e) {
                TileSpec t;
                t.index = e;
                t.kind = e < ffnExperts ? TileSpec::Ffn
                         : e < ffnExperts + b.zeroExperts.zero ? TileSpec::Zero
                         : e < ffnExperts + b.zeroExperts.zero + b.zeroExperts.copy ? TileSpec::Copy : TileSpec::Constant;
                tiles.push_back(t);
            }
            QString experts = QObject::tr("%1 experts").arg(ffnExperts);
            if (b.sharedExperts) experts += QObject::tr(" + %1 shared").arg(b.sharedExperts);
            if (b.zeroExperts.total()) experts += QObject::tr(" + %1 zero-compute").arg(b.zeroExperts.total());
            QString losses = QObject::tr("aux %1").arg(b.losses.aux);
            if (b.losses.z > 0) losses += QObject::tr(" · z %1").arg(b.losses.z);
            if (!b.capacity.dropless) losses += QObject::tr(" · capacity ×%1").arg(b.capacity.factor);
            it->setAccent(c.moe);
            it->setMoe(routerText(m, b, layer), std::move(tiles), NodeItem::layoutFor(routed, b.sharedExperts));
            it->setTexts(title, {experts, ffnText(m, b.ffn), norm, losses}, footer);
            return it;
        }
        case spec::BlockKind::Dense:
        case spec::BlockKind::Group: break;
    }
    it->setAccent(c.dense);
    it->setTexts(title, {QObject::tr("dense"), ffnText(m, b.ffn), norm}, footer);
    return it;
}

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

void NetworkScene::setGroupExpanded(BlockId id, bool expanded) {
    if (expanded == m_expanded.contains(id)) return;
    if (expanded) m_expanded.insert(id);
    else m_expanded.remove(id);
    // The request may come from inside the group item's own event handler.
    QTimer::singleShot(0, this, [this] {
        rebuild();
        Q_EMIT relaidOut();
    });
}

void NetworkScene::rebuild() {
    m_rebuilding = true;
    std::set<QString> selected;
    for (const auto& r : selectedRefs()) selected.insert(keyOf(r));
    m_marker = nullptr;
    m_items.clear();
    m_cards.clear();
    clear();
    setFont(QApplication::font());

    const CanvasColors& c = canvasColors();
    const spec::ModelSpec& m = m_doc->project().model;
    const FlatModel fm(m);
    const spec::ModelFigures& f = fm.figures;
    const double s = sceneScale();
    const double gap = 56 * s;
    const double fixedW = 170 * s;
    const double blockW = 224 * s;
    std::vector<NodeItem*> chain;

    auto registerCard = [&](NodeItem* it, const QString& key) {
        if (!m_items.contains(key)) m_items.insert(key, it);
        m_cards.push_back(it);
    };
    auto add = [&](ItemRef ref, double width, QColor accent, QString title, QStringList lines, QString footer) {
        auto* it = new NodeItem(ref, QSizeF(width, 60 * s));
        it->setFlag(QGraphicsItem::ItemIsMovable, ref.kind == ItemRef::Block && !m_locked);
        it->setAccent(accent);
        it->setTexts(std::move(title), std::move(lines), std::move(footer));
        addItem(it);
        registerCard(it, keyOf(ref));
        chain.push_back(it);
        return it;
    };

    const auto& in = m.input;
    const bool text = in.isText();
    QStringList inLines;
    if (text) inLines = {tr("text · %1").arg(QString::fromStdString(in.corpus)), tr("%1 bytes per sequence").arg(in.seqLen), tr("next-byte prediction")};
    else inLines = {qs(spec::toString(in.dataset)),
                    tr("%1 token%2 × %3 features").arg(in.tokensPerSample()).arg(in.tokensPerSample() == 1 ? "" : "s").arg(in.tokenDim()),
                    tr("%1 classes").arg(in.numClasses())};
    add({ItemRef::Input, 0}, fixedW, c.input, tr("Input"), inLines, tr("batch %1").arg(m_doc->project().training.batch));
    QStringList stemLines;
    if (m.stem.kind == spec::StemKind::Embedding) {
        stemLines << tr("Embedding %1 → %2").arg(m.stem.vocab).arg(m.stem.dModel);
        switch (m.stem.positions) {
            case spec::PositionKind::Rope: stemLines << tr("positions: RoPE θ %1").arg(m.stem.ropeTheta); break;
            case spec::PositionKind::Learned: stemLines << tr("positions: learned"); break;
            case spec::PositionKind::None: stemLines << tr("positions: none"); break;
        }
    } else {
        stemLines << tr("Linear %1 → %2").arg(in.tokenDim()).arg(m.stem.dModel) << qs(spec::toString(m.stem.activation));
    }
    add({ItemRef::Stem, 0}, fixedW, c.stem, m.stem.kind == spec::StemKind::Embedding ? tr("Embedding") : tr("Stem"), stemLines,
        tr("params %1").arg(humanCount(static_cast<double>(f.stemParams))));

    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        const spec::BlockSpec& b = m.blocks[static_cast<size_t>(i)];
        const BlockId id = m_doc->idAt(i);
        const QString label = b.label.empty() ? QString() : QString::fromStdString(b.label);
        if (b.kind != spec::BlockKind::Group) {
            const int layer = fm.layerOf(i, 0, -1);
            if (layer < 0) continue;
            const QString title = label.isEmpty() ? tr("Block %1 · %2").arg(i).arg(kindName(b.kind)) : tr("%1 · %2").arg(i).arg(label);
            NodeItem* it = blockCard(fm, {ItemRef::Block, id}, layer, title, {}, blockW);
            it->setFlag(QGraphicsItem::ItemIsMovable, !m_locked);
            it->setLayers({layer});
            addItem(it);
            registerCard(it, keyOf(it->ref()));
            chain.push_back(it);
            continue;
        }
        chain.push_back(buildGroup(i, id, fm, blockW));
    }
    QStringList headLines;
    if (text)
        headLines << tr("every position → next token")
                  << tr("Linear %1 → %2%3")
                         .arg(m.stem.dModel)
                         .arg(m.stem.kind == spec::StemKind::Embedding ? m.stem.vocab : in.numClasses())
                         .arg(m.head.tied ? tr(" (tied)") : QString());
    else
        headLines << tr("mean-pool tokens") << tr("Linear %1 → %2").arg(m.stem.dModel).arg(in.numClasses());
    headLines << tr("norm: %1").arg(qs(spec::toString(m.head.norm)));
    add({ItemRef::Head, 0}, fixedW, c.head, tr("Head"), headLines, tr("params %1").arg(humanCount(static_cast<double>(f.headParams))));
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

    for (NodeItem* card : m_cards) {
        QStringList msgs;
        for (const auto& p : m_doc->problemsFor(card->ref()))
            msgs << QString::fromStdString(p.diagnostic.path + ": " + p.diagnostic.message);
        card->setProblems(msgs);
    }
    for (auto it = m_items.begin(); it != m_items.end(); ++it)
        if (selected.count(it.key())) it.value()->setSelected(true);
    setSceneRect(itemsBoundingRect().adjusted(-400, -300, 400, 300));
    if (!m_loads.empty()) setExpertLoads(std::move(m_loads));
    m_rebuilding = false;
    Q_EMIT selectionRefsChanged();
}

NodeItem* NetworkScene::buildGroup(int index, BlockId id, const FlatModel& fm, double cardW) {
    const spec::ModelSpec& m = m_doc->project().model;
    const spec::BlockSpec& g = m.blocks[static_cast<size_t>(index)];
    const double s = sceneScale();
    const double innerGap = 30 * s;
    const bool expanded = m_expanded.contains(id);
    const int nChildren = static_cast<int>(g.children.size());
    // Collapsed: one card per child, from a repeat where the child is as authored (past the
    // first dense ones), tinted by the mean load over the repeats where it routes. Expanded:
    // one row per repeat, each card its own layer.
    const int shownRepeat = g.firstDense < g.repeat ? g.firstDense : 0;
    QString note = tr("%1 layers").arg(g.repeat * nChildren);
    if (g.firstDense > 0) note += tr(" · first %1 dense (FFN %2 %3)").arg(g.firstDense).arg(g.denseFfn.hidden).arg(qs(spec::toString(g.denseFfn.activation)));
    bool routes = false;
    for (const auto& ch : g.children) routes |= ch.kind == spec::BlockKind::Moe;
    if (routes) note += expanded ? tr(" · expert tint: each repeat's own load") : tr(" · expert tint: mean over the repeats");
    const QString title = tr("Group %1 · %2").arg(index).arg(g.label.empty() ? tr("layer group") : QString::fromStdString(g.label));
    auto* frame = new GroupItem({ItemRef::Block, id}, QSizeF(100, 100), g.repeat, note, expanded);
    frame->setFlag(QGraphicsItem::ItemIsMovable, !m_locked);
    double params = 0, active = 0;
    for (int l = 0; l < static_cast<int>(fm.origins.size()); ++l)
        if (fm.origins[static_cast<size_t>(l)].block == index) {
            params += static_cast<double>(fm.figures.blocks[static_cast<size_t>(l)].params);
            active += fm.figures.blocks[static_cast<size_t>(l)].activeParams;
        }
    frame->setTexts(title, {}, tr("all %1 repeats: params %2 · active %3").arg(g.repeat).arg(humanCount(params), humanCount(active)));
    addItem(frame);
    m_cards.push_back(frame);
    m_items.insert(keyOf(frame->ref()), frame);

    const double top = GroupItem::headerHeight();
    double y = top, width = 0;
    const int rows = expanded ? g.repeat : 1;
    for (int r = 0; r < rows; ++r) {
        const int rep = expanded ? r : shownRepeat;
        double x = GroupItem::padding(), rowH = 0;
        NodeItem* prev = nullptr;
        for (int ci = 0; ci < nChildren; ++ci) {
            const int layer = fm.layerOf(index, rep, ci);
            if (layer < 0) continue;
            const spec::BlockSpec& child = fm.model.blocks[static_cast<size_t>(layer)];
            const ItemRef ref{ItemRef::Block, id, ci};
            const QString childTitle = expanded ? tr("Layer %1 · %2").arg(layer).arg(kindName(child.kind))
                                                : tr("%1.%2 · %3").arg(index).arg(ci).arg(child.label.empty() ? kindName(child.kind) : QString::fromStdString(child.label));
            const spec::BlockFigures* bf = fm.figuresOf(layer);
            NodeItem* card = blockCard(fm, ref, layer, childTitle, bf ? figuresFooter(*bf, expanded ? 1 : g.repeat) : QString(), cardW);
            std::vector<int> layers;
            if (expanded || child.kind != spec::BlockKind::Moe) layers = {layer};
            else
                for (int rr = g.firstDense; rr < g.repeat; ++rr) layers.push_back(fm.layerOf(index, rr, ci));
            card->setLayers(layers);
            card->setParentItem(frame);
            card->setPos(x, y);
            const QString key = keyOf(ref);
            m_items.insert(m_items.contains(key) ? key + QStringLiteral("@%1").arg(rep) : key, card);
            m_cards.push_back(card);
            if (prev) {
                const QRectF a = prev->mapRectToParent(prev->boundingRect().adjusted(4, 4, -4, -4));
                const QRectF b = QRectF(QPointF(x, y), card->boundingRect().size() - QSizeF(8, 8));
                auto* edge = new EdgeItem(QPolygonF{QPointF(a.right() + 2, a.top() + 30 * s), QPointF(b.left() - 2, b.top() + 30 * s)});
                edge->setParentItem(frame);
            }
            prev = card;
            const QSizeF sz = card->boundingRect().size() - QSizeF(8, 8);
            x += sz.width() + innerGap;
            rowH = std::max(rowH, sz.height());
        }
        width = std::max(width, x - innerGap + GroupItem::padding());
        y += rowH + (r + 1 < rows ? 18 * s : 0);
    }
    frame->setFrameSize(QSizeF(std::max(width, 260 * s), y + GroupItem::padding() + QFontMetricsF(QApplication::font()).height() * 1.4));
    return frame;
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
    // Telemetry arrives several times a second: recolour the tiles in place, no relayout. A
    // card showing several layers (a collapsed group's child) shows their mean load.
    const spec::ModelSpec flat = m_doc->project().model.flattened();
    for (NodeItem* it : m_cards) {
        if (it->tiles().empty() || it->layers().empty()) continue;
        std::vector<double> mean;
        int n = 0;
        for (int layer : it->layers()) {
            if (layer < 0 || layer >= static_cast<int>(m_loads.size()) || m_loads[static_cast<size_t>(layer)].empty()) continue;
            const auto& v = m_loads[static_cast<size_t>(layer)];
            if (mean.empty()) mean.assign(v.size(), 0.0);
            if (v.size() != mean.size()) continue;
            for (size_t e = 0; e < v.size(); ++e) mean[e] += v[e];
            ++n;
        }
        for (double& x : mean) x /= std::max(1, n);
        it->setLoads(mean, flat.routedExpertsOf(it->layers().front()));
    }
    update();  // the views' tint legend appears or goes with the tint
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

const spec::BlockSpec* NetworkScene::specOf(const ItemRef& ref) const {
    const int i = ref.kind == ItemRef::Block ? m_doc->indexOf(ref.block) : -1;
    if (i < 0) return nullptr;
    const spec::BlockSpec& b = m_doc->project().model.blocks[static_cast<size_t>(i)];
    if (ref.child < 0) return &b;
    return ref.child < static_cast<int>(b.children.size()) ? &b.children[static_cast<size_t>(ref.child)] : nullptr;
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
    if (isModelEntry(id)) return e->acceptProposedAction();
    NodeItem* target = blockAt(e->scenePos());
    const spec::BlockSpec* b = target ? specOf(target->ref()) : nullptr;
    if (b && b->kind == spec::BlockKind::Moe) e->acceptProposedAction();
    else e->ignore();
}

void NetworkScene::dragLeaveEvent(QGraphicsSceneDragDropEvent*) { hideMarker(); }

void NetworkScene::dropEvent(QGraphicsSceneDragDropEvent* e) {
    hideMarker();
    const QString id = QString::fromUtf8(e->mimeData()->data(QString::fromLatin1(kPaletteMime)));
    if (id.isEmpty()) return;
    NodeItem* target = blockAt(e->scenePos());
    const QString why = applyPaletteEntry(*m_doc, id, insertIndexAt(e->scenePos()), target ? target->ref().block : 0, target ? target->ref().child : -1);
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
    // Never shrink text past legibility: fit the start of the model and let the user scroll.
    if (const double least = minFitZoom(); zoom() < least) {
        setTransform(QTransform::fromScale(least, least));
        const QSizeF shown = QSizeF(viewport()->size()) / least;
        centerOn(r.left() - 30 + shown.width() / 2, r.top() - 30 + shown.height() / 2);
    }
}

double NetworkView::minFitZoom() const { return kMinTextPx / QFontInfo(QApplication::font()).pixelSize(); }

namespace {
bool anyTinted(const QGraphicsScene* s) {
    for (QGraphicsItem* it : s->items())
        if (auto* n = dynamic_cast<NodeItem*>(it); n && n->hasLoads()) return true;
    return false;
}
// The legend's swatches: each a load relative to an even split, its words, and the short words of
// the one-line legend a small canvas gets (a projector at 1280x800 in classroom mode).
struct LegendStop {
    double ratio;
    const char* label;
    const char* shortLabel;
};
constexpr LegendStop kLegendStops[] = {
    {0.0, "dead (<0.1)", "dead"}, {0.5, "0.5x or less", "≤0.5x"}, {1.0, "1x (even)", "1x"}, {2.0, "2x or more", "≥2x"}};

struct LegendLayout {
    bool compact = false;
    bool twoLines = false;  // compact, with the title on a line of its own
    QRectF box;
};

LegendLayout legendLayout(const QRectF& vp) {
    const QFontMetricsF fm(QApplication::font());
    QFont bold = QApplication::font();
    bold.setBold(true);
    const QFontMetricsF fb(bold);
    double w = fb.horizontalAdvance(QObject::tr("Expert load ÷ even share"));
    for (const auto& s : kLegendStops) w = std::max(w, fm.height() + 6 + fm.horizontalAdvance(QObject::tr(s.label)));
    const double h = fm.height() * (1.3 + std::size(kLegendStops)) + 12;
    // The full legend would hide a good part of a small canvas: one line along the bottom instead.
    if (h <= 0.3 * vp.height() && w + 12 <= 0.4 * vp.width()) return {false, false, {vp.right() - w - 24, vp.bottom() - h - 12, w + 12, h}};
    const double titleW = fb.horizontalAdvance(QObject::tr("Load ÷ even:")) + 8;
    double swatchesW = 0;
    for (const auto& s : kLegendStops) swatchesW += fm.height() + fm.horizontalAdvance(QString::fromUtf8(s.shortLabel)) + 10;
    // One line when it fits the canvas, else the title above the swatches.
    const bool twoLines = titleW + swatchesW + 16 > vp.width() - 16;
    const double cw = std::min((twoLines ? std::max(titleW, swatchesW) : titleW + swatchesW) + 8, vp.width() - 16);
    const double ch = fm.height() * (twoLines ? 2 : 1) + 8;
    return {true, twoLines, {vp.right() - cw - 8, vp.bottom() - ch - 6, cw, ch}};
}
}  // namespace

QRectF NetworkView::legendRect() const {
    if (!scene() || !anyTinted(scene())) return {};
    return legendLayout(viewport()->rect()).box;
}

void NetworkView::scrollContentsBy(int dx, int dy) {
    QGraphicsView::scrollContentsBy(dx, dy);
    if (!legendRect().isEmpty()) viewport()->update();  // the legend is pinned to the viewport, not the scene
}

void NetworkView::drawForeground(QPainter* p, const QRectF& rect) {
    QGraphicsView::drawForeground(p, rect);
    if (!scene() || !anyTinted(scene())) return;
    const LegendLayout lay = legendLayout(viewport()->rect());
    const QRectF box = lay.box;
    const CanvasColors& c = canvasColors();
    p->save();
    p->resetTransform();  // viewport pixels: the legend stays put while the canvas zooms
    p->setRenderHint(QPainter::Antialiasing);
    QColor bg = c.card;
    bg.setAlpha(235);
    p->setPen(QPen(c.cardBorder, 1));
    p->setBrush(bg);
    p->drawRoundedRect(box, 6, 6);
    const QFontMetricsF fm(QApplication::font());
    QFont bold = QApplication::font();
    bold.setBold(true);
    const double side = fm.height() - 4;
    auto swatch = [&](double x, double y, double ratio) {
        p->setPen(QPen(c.cardBorder, 1));
        p->setBrush(loadTint(ratio));
        p->drawRoundedRect(QRectF(x, y + 2, side, side), 2, 2);
    };
    if (lay.compact) {
        double x = box.left() + 6;
        double y = box.top() + 4;
        p->setFont(bold);
        p->setPen(c.text);
        const QString title = tr("Load ÷ even:");
        p->drawText(QRectF(x, y, box.width(), fm.height()), Qt::AlignLeft | Qt::AlignVCenter, title);
        if (lay.twoLines) y += fm.height();
        else x += QFontMetricsF(bold).horizontalAdvance(title) + 8;
        p->setFont(QApplication::font());
        for (const auto& s : kLegendStops) {
            swatch(x, y, s.ratio);
            x += side + 4;
            const QString label = QString::fromUtf8(s.shortLabel);
            p->setPen(c.mutedText);
            p->drawText(QRectF(x, y, fm.horizontalAdvance(label) + 2, fm.height()), Qt::AlignLeft | Qt::AlignVCenter, label);
            x += fm.horizontalAdvance(label) + 10;
        }
        p->restore();
        return;
    }
    p->setFont(bold);
    p->setPen(c.text);
    double y = box.top() + 6;
    p->drawText(QRectF(box.left() + 6, y, box.width() - 12, fm.height()), Qt::AlignLeft | Qt::AlignVCenter, tr("Expert load ÷ even share"));
    y += fm.height() * 1.3;
    p->setFont(QApplication::font());
    for (const auto& s : kLegendStops) {
        swatch(box.left() + 6, y, s.ratio);
        p->setPen(c.mutedText);
        p->drawText(QRectF(box.left() + 12 + side, y, box.width() - side - 18, fm.height()), Qt::AlignLeft | Qt::AlignVCenter, tr(s.label));
        y += fm.height();
    }
    p->restore();
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
