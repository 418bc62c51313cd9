#include "canvas_items.h"

#include <QApplication>
#include <QFontMetricsF>
#include <QGraphicsScene>
#include <QGraphicsSceneHoverEvent>
#include <QGraphicsSceneMouseEvent>
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
constexpr int kMaxShownTiles = 128;

// Routed tiles first row after the shared ones; rows of `cols`.
int rowsOf(int n, int cols) { return n == 0 ? 0 : (n + cols - 1) / cols; }

}  // namespace

NodeItem::NodeItem(ItemRef ref, QSizeF size) : m_ref(ref), m_size(size) {
    setFlag(ItemIsSelectable);
    setFlag(ItemSendsGeometryChanges);
    setAcceptHoverEvents(true);
    if (ref.kind == ItemRef::Block) {
        setFlag(ItemIsMovable);
        setCursor(Qt::OpenHandCursor);
    }
}

void NodeItem::setTexts(QString title, QStringList lines, QString footer) {
    prepareGeometryChange();
    m_title = std::move(title);
    m_lines = std::move(lines);
    m_footer = std::move(footer);
    double h = pad() + lineH() * 1.2 + lineH() * m_lines.size() + pad() * 0.5 + lineH() + pad() * 0.6;
    if (m_moe) {
        const int shared = static_cast<int>(std::count_if(m_tiles.begin(), m_tiles.end(), [](const TileSpec& t) { return t.kind == TileSpec::Shared; }));
        const int routed = static_cast<int>(m_tiles.size()) - shared;
        h += lineH() * 1.4 + pad() * 0.5;  // router bar
        h += (rowsOf(shared, m_columns) + rowsOf(routed, m_columns)) * (m_tileSize + kGap);
        if (shared > 0) h += pad() * 0.6;
        if (m_hiddenTiles > 0) h += lineH();
    }
    m_size.setHeight(std::max(m_size.height(), h));
    updateToolTip();
}

void NodeItem::setProblems(const QStringList& messages) {
    m_problems = messages;
    updateToolTip();
    update();
}

void NodeItem::updateToolTip() {
    QString tip = QStringLiteral("<b>%1</b>").arg(m_title.toHtmlEscaped());
    for (const QString& l : m_lines) tip += QStringLiteral("<br>") + l.toHtmlEscaped();
    if (!m_problems.isEmpty()) {
        tip += QStringLiteral("<hr><span style='color:#d93025'><b>%1</b></span>").arg(QObject::tr("Problems"));
        for (const QString& p : m_problems) tip += QStringLiteral("<br>• ") + p.toHtmlEscaped();
    }
    setToolTip(tip);
}

QSizeF NodeItem::moeCardSize(int tiles, int sharedTiles, int* columns, double* tileSize, int* shownTiles) {
    const double width = 224 * uiScale();
    const int total = std::max(1, tiles + sharedTiles);
    const int cols = total <= 16 ? 4 : total <= 36 ? 6 : 8;
    *columns = cols;
    *tileSize = (width - 2 * pad() - (cols - 1) * kGap) / cols;
    *shownTiles = std::min(tiles, kMaxShownTiles);
    return {width, 0};
}

void NodeItem::setMoe(QString routerText, std::vector<TileSpec> tiles, int columns, double tileSize, int hiddenTiles) {
    m_moe = true;
    m_router = std::move(routerText);
    m_tiles = std::move(tiles);
    m_columns = columns;
    m_tileSize = tileSize;
    m_hiddenTiles = hiddenTiles;
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

QRectF NodeItem::tileRect(int i) const {
    const double top = pad() + lineH() * 1.2 + lineH() * m_lines.size() + lineH() * 1.4 + pad() * 0.5;
    int shared = 0;
    for (const auto& t : m_tiles) shared += t.kind == TileSpec::Shared ? 1 : 0;
    double y = top;
    int slot = i;
    if (i >= shared) {
        y += rowsOf(shared, m_columns) * (m_tileSize + kGap) + (shared > 0 ? pad() * 0.6 : 0);
        slot = i - shared;
    }
    const int row = slot / m_columns, col = slot % m_columns;
    return {pad() + col * (m_tileSize + kGap), y + row * (m_tileSize + kGap), m_tileSize, m_tileSize};
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
        if (t.load < 0.1) what += QObject::tr(" (dead: almost no tokens reach it)");
    }
    return what;
}

void NodeItem::hoverMoveEvent(QGraphicsSceneHoverEvent* e) {
    for (int i = 0; i < static_cast<int>(m_tiles.size()); ++i)
        if (tileRect(i).contains(e->pos())) {
            setToolTip(tileToolTip(m_tiles[static_cast<size_t>(i)]));
            return;
        }
    updateToolTip();
}

void NodeItem::paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget*) {
    const CanvasColors& c = canvasColors();
    const bool selected = option->state & QStyle::State_Selected;
    p->setRenderHint(QPainter::Antialiasing);
    const QRectF r(QPointF(0, 0), m_size);
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
    p->fillRect(QRectF(0, 0, r.width(), 5 * uiScale()), m_accent);
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

    if (m_moe) {
        const QRectF bar(x, y + pad() * 0.25, w, lineH() * 1.2);
        p->setPen(QPen(m_accent, 1));
        p->setBrush(c.router);
        p->drawRoundedRect(bar, 4, 4);
        p->setPen(c.text);
        p->drawText(bar, Qt::AlignCenter, QFontMetricsF(f).elidedText(m_router, Qt::ElideRight, w - 8));
        QFont small = f;
        small.setPointSizeF(std::max(6.0, f.pointSizeF() * std::min(1.0, m_tileSize / 30.0)));
        p->setFont(small);
        for (int i = 0; i < static_cast<int>(m_tiles.size()); ++i) {
            const TileSpec& t = m_tiles[static_cast<size_t>(i)];
            const QRectF tr = tileRect(i);
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
            if (m_tileSize >= 14) {
                p->setPen(t.load >= 0 && t.load >= 0.1 && t.kind != TileSpec::Shared ? QColor(Qt::white) : c.text);
                p->drawText(tr, Qt::AlignCenter, glyph);
            }
        }
        p->setFont(f);
        if (m_hiddenTiles > 0) {
            const QRectF last = tileRect(static_cast<int>(m_tiles.size()) - 1);
            p->setPen(c.mutedText);
            p->drawText(QRectF(x, last.bottom() + 2, w, lineH()), Qt::AlignLeft | Qt::AlignVCenter,
                        QObject::tr("+%1 more experts").arg(m_hiddenTiles));
        }
    }

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

QVariant NodeItem::itemChange(GraphicsItemChange change, const QVariant& value) {
    if (change == ItemPositionChange && scene() && m_ref.kind == ItemRef::Block) setZValue(5);  // above its neighbours while dragged
    return QGraphicsItem::itemChange(change, value);
}

void NodeItem::mousePressEvent(QGraphicsSceneMouseEvent* e) {
    m_pressPos = pos();
    if (m_ref.kind == ItemRef::Block) setCursor(Qt::ClosedHandCursor);
    QGraphicsItem::mousePressEvent(e);
}

void NodeItem::mouseReleaseEvent(QGraphicsSceneMouseEvent* e) {
    QGraphicsItem::mouseReleaseEvent(e);
    if (m_ref.kind != ItemRef::Block) return;
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
