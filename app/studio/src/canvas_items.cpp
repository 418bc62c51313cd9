#include "canvas_items.h"

#include <QApplication>
#include <QFontMetricsF>
#include <QGraphicsScene>
#include <QGraphicsSceneHoverEvent>
#include <QGraphicsSceneContextMenuEvent>
#include <QGraphicsSceneMouseEvent>
#include <QMenu>
#include <QPainter>
#include <QPainterPath>
#include <QStyleOptionGraphicsItem>

#include <algorithm>
#include <cmath>

#include "canvas.h"
#include "theme.h"

namespace moe::studio {
namespace {

double uiScale() { return std::max(1.0, QFontMetricsF(QApplication::font()).height() / 16.0); }
double pad() { return 12 * uiScale(); }
double lineH() { return QFontMetricsF(QApplication::font()).height() + 2; }
constexpr double kGap = 4;

// Routed tiles first row after the shared ones; rows of `cols`.
int rowsOf(int n, int cols) { return n == 0 ? 0 : (n + cols - 1) / cols; }

}  // namespace

NodeItem::NodeItem(ItemRef ref, QSizeF size) : m_size(size), m_ref(ref) {
    setFlag(ItemIsSelectable);
    setFlag(ItemSendsGeometryChanges);
    setAcceptHoverEvents(true);
    if (ref.kind == ItemRef::Block && ref.child < 0) {
        setFlag(ItemIsMovable);
        setCursor(Qt::OpenHandCursor);
    }
}

namespace {
int sharedCount(const std::vector<TileSpec>& tiles) {
    return static_cast<int>(std::count_if(tiles.begin(), tiles.end(), [](const TileSpec& t) { return t.kind == TileSpec::Shared; }));
}
double headCell() { return 11 * uiScale(); }
}  // namespace

void NodeItem::setTexts(QString title, QStringList lines, QString footer) {
    prepareGeometryChange();
    m_title = std::move(title);
    m_lines = std::move(lines);
    m_footer = std::move(footer);
    double h = pad() + lineH() * 1.2 + lineH() * m_lines.size() + pad() * 0.5 + lineH() + pad() * 0.6;
    if (m_moe) {
        const int shared = sharedCount(m_tiles);
        const int routed = static_cast<int>(m_tiles.size()) - shared;
        h += routerBarHeight() + lineH() * 0.2 + pad() * 0.5;
        h += rowsOf(shared, m_layout.strips ? 8 : m_layout.columns) * (m_layout.strips ? 18 * uiScale() + kGap : m_layout.w + kGap);
        h += rowsOf(routed, m_layout.columns) * (m_layout.h + (m_layout.strips ? 2 : kGap));
        if (shared > 0) h += pad() * 0.6;
    }
    if (m_attention) h += 2 * (headCell() + kGap) + pad() * 0.5;
    m_size.setHeight(std::max(m_size.height(), h));
    updateToolTip();
}

void NodeItem::setProblems(const QStringList& messages) {
    m_problems = messages;
    updateToolTip();
    update();
}

QString NodeItem::cardToolTip() const {
    QString tip = QStringLiteral("<b>%1</b>").arg(m_title.toHtmlEscaped());
    for (const QString& l : m_lines) tip += QStringLiteral("<br>") + l.toHtmlEscaped();
    if (!m_problems.isEmpty()) {
        tip += QStringLiteral("<hr><span style='color:#d93025'><b>%1</b></span>").arg(QObject::tr("Problems"));
        for (const QString& p : m_problems) tip += QStringLiteral("<br>• ") + p.toHtmlEscaped();
    }
    return tip;
}

void NodeItem::updateToolTip() { setToolTip(cardToolTip()); }

TileLayout NodeItem::layoutFor(int tiles, int sharedTiles) {
    const double width = 224 * uiScale() - 2 * pad();
    TileLayout l;
    if (tiles > 32) {
        // Thin cells: 64 to a strip (128 past 512 experts) keep thousands of experts on one card.
        l.strips = true;
        l.columns = tiles <= 512 ? 64 : 128;
        l.w = width / l.columns;
        l.h = 9 * uiScale();
        return l;
    }
    const int total = std::max(1, tiles + sharedTiles);
    l.columns = total <= 16 ? 4 : total <= 36 ? 6 : 8;
    l.w = l.h = (width - (l.columns - 1) * kGap) / l.columns;
    return l;
}

void NodeItem::setMoe(QString routerText, std::vector<TileSpec> tiles, TileLayout layout) {
    m_moe = true;
    m_router = std::move(routerText);
    // Two lines when one does not fit the card (the words wrap, nothing is cut).
    const double room = m_size.width() - 2 * pad() - 8;
    m_routerLines = QFontMetricsF(QApplication::font()).horizontalAdvance(m_router) > room ? 2 : 1;
    m_tiles = std::move(tiles);
    m_layout = layout;
}

void NodeItem::setAttention(int heads, int kvHeads, QString kvNote) {
    m_attention = true;
    m_heads = heads;
    m_kvHeads = kvHeads;
    m_kvNote = std::move(kvNote);
}

bool NodeItem::hasLoads() const {
    return std::any_of(m_tiles.begin(), m_tiles.end(), [](const TileSpec& t) { return t.load >= 0; });
}

void NodeItem::setLoads(const std::vector<double>& shares, int routed) {
    for (auto& t : m_tiles) {
        if (t.kind == TileSpec::Shared) continue;
        t.load = t.index < static_cast<int>(shares.size()) ? shares[static_cast<size_t>(t.index)] * routed : -1;
    }
    update();
}

double NodeItem::routerBarHeight() const { return lineH() * (m_routerLines + 0.2); }

double NodeItem::tilesTop() const { return pad() + lineH() * 1.2 + lineH() * m_lines.size() + routerBarHeight() + lineH() * 0.2 + pad() * 0.5; }

QRectF NodeItem::tileRect(int i) const {
    const int shared = sharedCount(m_tiles);
    const double y = tilesTop();
    if (i < shared) {
        // Shared experts stay round tiles (there are few); beside strips they get a row of their own.
        const double side = m_layout.strips ? 18 * uiScale() : m_layout.w;
        const int cols = m_layout.strips ? 8 : m_layout.columns;
        return {pad() + (i % cols) * (side + kGap), y + (i / cols) * (side + kGap), side, side};
    }
    const double sharedH = m_layout.strips ? 18 * uiScale() : m_layout.w;
    const double top = y + rowsOf(shared, m_layout.strips ? 8 : m_layout.columns) * (sharedH + kGap) + (shared > 0 ? pad() * 0.6 : 0);
    const int slot = i - shared;
    const int row = slot / m_layout.columns, col = slot % m_layout.columns;
    if (m_layout.strips) return {pad() + col * m_layout.w, top + row * (m_layout.h + 2), m_layout.w, m_layout.h};
    return {pad() + col * (m_layout.w + kGap), top + row * (m_layout.h + kGap), m_layout.w, m_layout.h};
}

QRectF NodeItem::boundingRect() const { return QRectF(QPointF(-4, -4), m_size + QSizeF(8, 8)); }

QColor NodeItem::tileFill(const TileSpec& t) const {
    const CanvasColors& c = canvasColors();
    if (t.kind == TileSpec::Shared) return c.shared;
    if (t.load >= 0) return loadTint(t.load);
    return t.kind == TileSpec::Ffn ? c.expert : c.zero;
}

QString NodeItem::tileToolTip(const TileSpec& t) const {
    QString what;
    switch (t.kind) {
        case TileSpec::Ffn: what = QObject::tr("Expert %1 (FFN)").arg(t.index); break;
        case TileSpec::Shared: return QObject::tr("Shared expert %1: every token goes through it").arg(t.index);
        case TileSpec::Zero: what = QObject::tr("Expert %1: zero expert (outputs 0, no compute)").arg(t.index); break;
        case TileSpec::Copy: what = QObject::tr("Expert %1: copy expert (outputs its input, no compute)").arg(t.index); break;
        case TileSpec::Constant: what = QObject::tr("Expert %1: constant expert (learned vector mix)").arg(t.index); break;
    }
    if (t.load >= 0) {
        what += QObject::tr("\nLoad: %1x the balanced share").arg(t.load, 0, 'f', 2);
        if (m_layers.size() > 1) what += QObject::tr(" (mean over %1 layers)").arg(m_layers.size());
        if (t.load < 0.1) what += QObject::tr(" (dead: almost no tokens reach it)");
    } else if (m_moe) {
        what += QObject::tr("\nLoad: no training data yet");
    }
    return what;
}

QString NodeItem::toolTipAt(QPointF pos) const {
    for (int i = 0; i < static_cast<int>(m_tiles.size()); ++i)
        if (tileRect(i).contains(pos)) return tileToolTip(m_tiles[static_cast<size_t>(i)]);
    return cardToolTip();
}

void NodeItem::hoverMoveEvent(QGraphicsSceneHoverEvent* e) { setToolTip(toolTipAt(e->pos())); }

void NodeItem::paintCard(QPainter* p, bool selected, const QRectF& r) {
    const CanvasColors& c = canvasColors();
    const double radius = 8 * uiScale();
    // shadow, card, accent strip
    p->setPen(Qt::NoPen);
    p->setBrush(QColor(0, 0, 0, currentTheme() == Theme::Dark ? 70 : 22));
    p->drawRoundedRect(r.translated(0, 2), radius, radius);
    p->setBrush(c.card);
    p->drawRoundedRect(r, radius, radius);
    QPainterPath clip;
    clip.addRoundedRect(r, radius, radius);
    p->save();
    p->setClipPath(clip);
    p->fillRect(QRectF(r.left(), r.top(), r.width(), 5 * uiScale()), m_accent);
    p->restore();

    QPen border(invalid() ? c.cardInvalid : selected ? c.cardSelected : c.cardBorder, invalid() || selected ? 2.5 : 1);
    if (invalid() && !selected) border.setStyle(Qt::DashLine);
    p->setPen(border);
    p->setBrush(Qt::NoBrush);
    p->drawRoundedRect(r, radius, radius);
    if (invalid() && selected) {
        p->setPen(QPen(c.cardSelected, 2));
        p->drawRoundedRect(r.adjusted(-4, -4, 4, 4), radius + 3, radius + 3);
    }
}

void NodeItem::paintTiles(QPainter* p, double x, double y, double w) {
    const CanvasColors& c = canvasColors();
    QFont f = QApplication::font();
    const QRectF bar(x, y + pad() * 0.25, w, routerBarHeight());
    p->setPen(QPen(m_accent, 1));
    p->setBrush(c.router);
    p->drawRoundedRect(bar, 4, 4);
    p->setPen(c.text);
    p->drawText(bar.adjusted(4, 0, -4, 0), Qt::AlignCenter | Qt::TextWordWrap, m_router);
    QFont small = f;
    small.setPointSizeF(std::max(6.0, f.pointSizeF() * std::min(1.0, m_layout.w / 30.0)));
    p->setFont(small);
    for (int i = 0; i < static_cast<int>(m_tiles.size()); ++i) {
        const TileSpec& t = m_tiles[static_cast<size_t>(i)];
        const QRectF tr = tileRect(i);
        if (m_layout.strips && t.kind != TileSpec::Shared) {
            // Strip cells: no outline (it would eat a 3-pixel cell); compute-free ones are muted.
            p->setPen(Qt::NoPen);
            p->setBrush(tileFill(t));
            p->drawRect(tr.adjusted(0, 0, -0.35, 0));
            continue;
        }
        const bool computeFree = t.kind == TileSpec::Zero || t.kind == TileSpec::Copy || t.kind == TileSpec::Constant;
        QPen tp(computeFree ? c.mutedText : c.cardBorder, computeFree ? 1.4 : 1);
        if (computeFree) tp.setStyle(Qt::DashLine);
        if (t.kind == TileSpec::Shared) tp = QPen(c.shared.darker(140), 1.5);
        p->setPen(tp);
        p->setBrush(tileFill(t));
        if (t.kind == TileSpec::Shared) p->drawEllipse(tr.adjusted(1, 1, -1, -1));
        else p->drawRoundedRect(tr, 3, 3);
        QString glyph;
        switch (t.kind) {
            case TileSpec::Ffn: glyph = QString::number(t.index); break;
            case TileSpec::Shared: glyph = QStringLiteral("S"); break;
            case TileSpec::Zero: glyph = QStringLiteral("0"); break;
            case TileSpec::Copy: glyph = QStringLiteral("="); break;
            case TileSpec::Constant: glyph = QStringLiteral("c"); break;
        }
        if (tr.width() >= 14) {
            p->setPen(t.load >= 0 && t.load >= 0.1 && t.kind != TileSpec::Shared ? QColor(Qt::white) : c.text);
            p->drawText(tr, Qt::AlignCenter, glyph);
        }
    }
    p->setFont(f);
}

void NodeItem::paintHeads(QPainter* p, double x, double y, double w) {
    // Two rows: query heads, then key/value heads (fewer under GQA/MQA; a latent under MLA).
    const CanvasColors& c = canvasColors();
    QFont small = QApplication::font();
    small.setPointSizeF(std::max(6.0, small.pointSizeF() * 0.85));
    p->setFont(small);
    const double labelW = 34 * uiScale();
    const double cell = headCell();
    const int fit = std::max(1, static_cast<int>((w - labelW) / (cell + 2)));
    auto row = [&](double ry, int n, QColor fill, const QString& label) {
        p->setPen(c.mutedText);
        p->drawText(QRectF(x, ry, labelW, cell), Qt::AlignLeft | Qt::AlignVCenter, label);
        p->setPen(QPen(c.cardBorder, 1));
        p->setBrush(fill);
        const int shown = std::min(n, fit);
        for (int h = 0; h < shown; ++h) p->drawRoundedRect(QRectF(x + labelW + h * (cell + 2), ry, cell, cell), 2, 2);
        if (n > shown) {
            p->setPen(c.mutedText);
            p->drawText(QRectF(x + labelW + shown * (cell + 2), ry, w, cell), Qt::AlignLeft | Qt::AlignVCenter, QStringLiteral("…"));
        }
    };
    row(y, m_heads, m_accent, QObject::tr("Q"));
    if (m_kvNote.isEmpty()) row(y + cell + kGap, m_kvHeads, c.kvHead, QObject::tr("KV"));
    else {
        p->setPen(c.mutedText);
        p->drawText(QRectF(x, y + cell + kGap, labelW, cell), Qt::AlignLeft | Qt::AlignVCenter, QObject::tr("KV"));
        p->setPen(QPen(c.cardBorder, 1));
        p->setBrush(c.kvHead);
        const QRectF latent(x + labelW, y + cell + kGap, std::min(w - labelW, 60 * uiScale()), cell);
        p->drawRoundedRect(latent, 2, 2);
        p->setPen(c.mutedText);
        p->drawText(QRectF(latent.right() + 4, latent.top(), w - latent.width() - labelW, cell), Qt::AlignLeft | Qt::AlignVCenter, m_kvNote);
    }
    p->setFont(QApplication::font());
}

void NodeItem::paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget*) {
    const CanvasColors& c = canvasColors();
    const bool selected = option->state & QStyle::State_Selected;
    p->setRenderHint(QPainter::Antialiasing);
    const QRectF r(QPointF(0, 0), m_size);
    paintCard(p, selected, r);

    // texts
    QFont f = QApplication::font();
    QFont bold = f;
    bold.setBold(true);
    const double x = pad();
    const double w = r.width() - 2 * pad();
    double y = pad();
    p->setPen(c.text);
    p->setFont(bold);
    p->drawText(QRectF(x, y, w - (invalid() ? 18 : 0), lineH() * 1.2), Qt::AlignLeft | Qt::AlignVCenter,
                QFontMetricsF(bold).elidedText(m_title, Qt::ElideRight, w - (invalid() ? 18 : 0)));
    y += lineH() * 1.2;
    p->setFont(f);
    p->setPen(c.mutedText);
    for (const QString& l : m_lines) {
        p->drawText(QRectF(x, y, w, lineH()), Qt::AlignLeft | Qt::AlignVCenter, QFontMetricsF(f).elidedText(l, Qt::ElideRight, w));
        y += lineH();
    }

    if (m_moe) paintTiles(p, x, y, w);
    if (m_attention) paintHeads(p, x, y + pad() * 0.25, w);

    p->setPen(c.mutedText);
    p->drawText(QRectF(x, r.height() - pad() * 0.6 - lineH(), w, lineH()), Qt::AlignLeft | Qt::AlignVCenter,
                QFontMetricsF(f).elidedText(m_footer, Qt::ElideRight, w));

    if (invalid()) {
        const QRectF badge(r.width() - pad() - 16, pad() + 1, 16, 16);
        p->setPen(Qt::NoPen);
        p->setBrush(c.cardInvalid);
        p->drawEllipse(badge);
        p->setPen(Qt::white);
        p->setFont(bold);
        p->drawText(badge, Qt::AlignCenter, QStringLiteral("!"));
    }
}

// ---- layer groups ------------------------------------------------------------------------------

GroupItem::GroupItem(ItemRef ref, QSizeF size, int repeat, QString note, bool expanded)
    : NodeItem(ref, size), m_repeat(repeat), m_note(std::move(note)), m_expanded(expanded) {
    setZValue(-0.5);  // under its children's cards
}

double GroupItem::headerHeight() { return pad() + lineH() * 2.4 + pad() * 0.5; }
double GroupItem::padding() { return pad(); }

QString GroupItem::badgeText() const { return QStringLiteral("×%1").arg(m_repeat); }

void GroupItem::setFrameSize(QSizeF size) {
    prepareGeometryChange();
    m_size = size;
}

void GroupItem::paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget*) {
    const CanvasColors& c = canvasColors();
    const bool selected = option->state & QStyle::State_Selected;
    p->setRenderHint(QPainter::Antialiasing);
    const QRectF r(QPointF(0, 0), m_size);
    const double radius = 10 * uiScale();
    p->setBrush(c.groupFill);
    QPen border(invalid() ? c.cardInvalid : selected ? c.cardSelected : c.group, selected || invalid() ? 2.5 : 1.5);
    if (!m_expanded) border.setStyle(Qt::DashLine);
    p->setPen(border);
    p->drawRoundedRect(r, radius, radius);
    // Collapsed, a stack of two offset edges says "there are more of these".
    if (!m_expanded && m_repeat > 1) {
        p->setPen(QPen(c.group, 1));
        p->setBrush(Qt::NoBrush);
        for (int k = 1; k <= 2; ++k) {
            const double d = 4.0 * k;
            p->drawLine(QPointF(r.left() + radius + d, r.bottom() + d), QPointF(r.right() - radius + d, r.bottom() + d));
            p->drawLine(QPointF(r.right() + d, r.top() + radius + d), QPointF(r.right() + d, r.bottom() - radius + d));
        }
    }
    QFont f = QApplication::font();
    QFont bold = f;
    bold.setBold(true);
    const double x = pad();
    double y = pad();
    // The ×N badge, top right.
    QFont big = bold;
    big.setPointSizeF(bold.pointSizeF() * 1.3);
    const QString badge = badgeText();
    const double bw = QFontMetricsF(big).horizontalAdvance(badge) + 16;
    const QRectF badgeRect(r.width() - pad() - bw, y - 2, bw, lineH() * 1.4);
    p->setPen(Qt::NoPen);
    p->setBrush(c.group);
    p->drawRoundedRect(badgeRect, 6, 6);
    p->setPen(Qt::white);
    p->setFont(big);
    p->drawText(badgeRect, Qt::AlignCenter, badge);
    const double w = r.width() - 2 * pad() - bw - 8;
    p->setPen(c.text);
    p->setFont(bold);
    p->drawText(QRectF(x, y, w, lineH() * 1.2), Qt::AlignLeft | Qt::AlignVCenter, QFontMetricsF(bold).elidedText(m_title, Qt::ElideRight, w));
    y += lineH() * 1.2;
    p->setFont(f);
    p->setPen(c.mutedText);
    QStringList notes;
    if (!m_note.isEmpty()) notes << m_note;
    notes << (m_expanded ? QObject::tr("double-click to collapse") : QObject::tr("double-click to expand"));
    p->drawText(QRectF(x, y, r.width() - 2 * pad(), lineH()), Qt::AlignLeft | Qt::AlignVCenter,
                QFontMetricsF(f).elidedText(notes.join(QStringLiteral(" · ")), Qt::ElideRight, r.width() - 2 * pad()));
    p->drawText(QRectF(x, r.height() - pad() * 0.4 - lineH(), r.width() - 2 * pad(), lineH()), Qt::AlignLeft | Qt::AlignVCenter,
                QFontMetricsF(f).elidedText(m_footer, Qt::ElideRight, r.width() - 2 * pad()));
    if (invalid()) {
        const QRectF mark(badgeRect.left() - 22, pad() + 1, 16, 16);
        p->setPen(Qt::NoPen);
        p->setBrush(c.cardInvalid);
        p->drawEllipse(mark);
        p->setPen(Qt::white);
        p->setFont(bold);
        p->drawText(mark, Qt::AlignCenter, QStringLiteral("!"));
    }
}

void GroupItem::mouseDoubleClickEvent(QGraphicsSceneMouseEvent* e) {
    if (auto* s = dynamic_cast<NetworkScene*>(scene())) {
        // The scene rebuilds (and deletes this item) after the event returns.
        s->setGroupExpanded(ref().block, !m_expanded);
        e->accept();
        return;
    }
    NodeItem::mouseDoubleClickEvent(e);
}

void GroupItem::contextMenuEvent(QGraphicsSceneContextMenuEvent* e) {
    auto* s = dynamic_cast<NetworkScene*>(scene());
    if (!s) return;
    QMenu menu;
    QAction* expand = menu.addAction(QObject::tr("Expand layers (draw all %1 repeats)").arg(m_repeat));
    QAction* collapse = menu.addAction(QObject::tr("Collapse"));
    expand->setEnabled(!m_expanded);
    collapse->setEnabled(m_expanded);
    const BlockId id = ref().block;
    QAction* chosen = menu.exec(e->screenPos());
    if (chosen == expand) s->setGroupExpanded(id, true);
    else if (chosen == collapse) s->setGroupExpanded(id, false);
    e->accept();
}

QVariant NodeItem::itemChange(GraphicsItemChange change, const QVariant& value) {
    if (change == ItemPositionChange && scene() && m_ref.kind == ItemRef::Block) setZValue(5);  // above its neighbours while dragged
    return QGraphicsItem::itemChange(change, value);
}

void NodeItem::mousePressEvent(QGraphicsSceneMouseEvent* e) {
    m_pressPos = pos();
    if (m_ref.kind == ItemRef::Block && m_ref.child < 0) setCursor(Qt::ClosedHandCursor);
    QGraphicsItem::mousePressEvent(e);
}

void NodeItem::mouseReleaseEvent(QGraphicsSceneMouseEvent* e) {
    QGraphicsItem::mouseReleaseEvent(e);
    if (m_ref.kind != ItemRef::Block || m_ref.child >= 0) return;
    setCursor(Qt::OpenHandCursor);
    if ((pos() - m_pressPos).manhattanLength() > 4)
        if (auto* s = dynamic_cast<NetworkScene*>(scene())) s->blockDragFinished(m_ref.block, pos() + QPointF(m_size.width() / 2, m_size.height() / 2));
}

EdgeItem::EdgeItem(QPolygonF points) : m_points(std::move(points)) { setZValue(-1); }

QRectF EdgeItem::boundingRect() const { return m_points.boundingRect().adjusted(-10, -10, 10, 10); }

void EdgeItem::paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) {
    if (m_points.size() < 2) return;
    const CanvasColors& c = canvasColors();
    p->setRenderHint(QPainter::Antialiasing);
    QPen pen(c.edge, 2);
    pen.setJoinStyle(Qt::RoundJoin);
    p->setPen(pen);
    p->setBrush(Qt::NoBrush);
    QPolygonF line = m_points;
    const QPointF tip = line.back() - QPointF(2, 0);
    line.back() = tip - QPointF(6, 0);
    p->drawPolyline(line);
    QPolygonF head;
    head << tip << tip + QPointF(-9, -5) << tip + QPointF(-9, 5);
    p->setBrush(c.edge);
    p->setPen(Qt::NoPen);
    p->drawPolygon(head);
}

void InsertMarker::paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) {
    p->setRenderHint(QPainter::Antialiasing);
    p->setPen(Qt::NoPen);
    p->setBrush(canvasColors().cardSelected);
    p->drawRoundedRect(boundingRect(), 3, 3);
}

}  // namespace moe::studio
