#include "placement_view.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

#include <algorithm>
#include <cmath>

#include "theme.h"

namespace moe::studio {

namespace {

constexpr int kChipW = 24, kChipH = 16, kGap = 2, kPad = 4, kTitleH = 15, kNodeTitleH = 16, kNodeGap = 6, kMargin = 4;

QString pct(double share) { return QString::number(100.0 * share, 'f', share < 0.01 ? 2 : 1) + QLatin1Char('%'); }

}  // namespace

PlacementView::PlacementView(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Preferred);
}

void PlacementView::setModel(PlacementModel m) {
    m_model = std::move(m);
    m_dragging = false;
    m_pressExpert = -1;
    m_dropRank = -1;
    relayout();
    update();
}

void PlacementView::setEditable(bool on) {
    m_editable = on;
    setCursor(on ? Qt::OpenHandCursor : Qt::ArrowCursor);
}

void PlacementView::relayout() {
    m_layout = computeLayout(std::max(width(), 200));
    // Inside a resizable scroll area the height follows the width (chips wrap).
    setMinimumHeight(m_layout.height);
    updateGeometry();
}

void PlacementView::resizeEvent(QResizeEvent* e) {
    QWidget::resizeEvent(e);
    relayout();
}

PlacementView::Layout PlacementView::computeLayout(int width) const {
    Layout L;
    const auto& pl = m_model.placement;
    const int ep = static_cast<int>(pl.size());
    L.ranks.assign(static_cast<size_t>(ep), QRect());
    L.chips.assign(static_cast<size_t>(std::max(0, m_model.experts)), QRect());
    if (ep == 0) return L;
    size_t maxPerRank = 1;
    for (const auto& r : pl) maxPerRank = std::max(maxPerRank, r.size());
    // Roughly square boxes, never wider than 8 chips.
    const int cols = std::clamp(static_cast<int>(std::ceil(std::sqrt(static_cast<double>(maxPerRank)))), 1, 8);
    const int rows = static_cast<int>((maxPerRank + static_cast<size_t>(cols) - 1) / static_cast<size_t>(cols));
    const int boxW = std::max(58, 2 * kPad + cols * (kChipW + kGap) - kGap);
    const int boxH = kTitleH + kPad + rows * (kChipH + kGap) - kGap + kPad;
    const int tp = std::max(1, m_model.tp);
    const int perNode = std::max(1, m_model.gpusPerNode / tp);
    const int innerW = std::max(boxW, width - 2 * kMargin - 2 * kPad);
    const int perRow = std::max(1, (innerW + kGap + 2) / (boxW + kGap + 2));
    int y = kMargin;
    for (int first = 0; first < ep; first += perNode) {
        const int count = std::min(perNode, ep - first);
        // A node that needs several rows gets them evenly filled (8 GPUs: 4 + 4, not 7 + 1).
        const int nodeRows = (count + perRow - 1) / perRow;
        const int inRow = (count + nodeRows - 1) / nodeRows;
        const int nodeH = kNodeTitleH + nodeRows * (boxH + kGap + 2) - kGap - 2 + kPad;
        L.nodes.push_back(QRect(kMargin, y, width - 2 * kMargin, nodeH));
        L.nodeIds.push_back(first * tp / std::max(1, m_model.gpusPerNode));
        for (int i = 0; i < count; ++i) {
            const int e = first + i;
            const int bx = kMargin + kPad + (i % inRow) * (boxW + kGap + 2);
            const int by = y + kNodeTitleH + (i / inRow) * (boxH + kGap + 2);
            const QRect box(bx, by, boxW, boxH);
            L.ranks[static_cast<size_t>(e)] = box;
            const auto& list = pl[static_cast<size_t>(e)];
            for (size_t j = 0; j < list.size(); ++j) {
                const int x = list[j];
                if (x < 0 || x >= m_model.experts) continue;
                const int c = static_cast<int>(j) % cols, r = static_cast<int>(j) / cols;
                L.chips[static_cast<size_t>(x)] = QRect(bx + kPad + c * (kChipW + kGap), by + kTitleH + kPad + r * (kChipH + kGap), kChipW, kChipH);
            }
        }
        y += nodeH + kNodeGap;
    }
    L.height = y - kNodeGap + kMargin;
    return L;
}

int PlacementView::heightForWidth(int w) const { return computeLayout(w).height; }
QSize PlacementView::sizeHint() const { return QSize(420, std::max(60, m_layout.height)); }
QSize PlacementView::minimumSizeHint() const { return QSize(200, 40); }

QRect PlacementView::rankRect(int epRank) const {
    return epRank >= 0 && epRank < static_cast<int>(m_layout.ranks.size()) ? m_layout.ranks[static_cast<size_t>(epRank)] : QRect();
}
QRect PlacementView::chipRect(int expert) const {
    return expert >= 0 && expert < static_cast<int>(m_layout.chips.size()) ? m_layout.chips[static_cast<size_t>(expert)] : QRect();
}
int PlacementView::rankAt(const QPoint& p) const {
    for (size_t i = 0; i < m_layout.ranks.size(); ++i)
        if (m_layout.ranks[i].contains(p)) return static_cast<int>(i);
    return -1;
}
int PlacementView::expertAt(const QPoint& p) const {
    for (size_t i = 0; i < m_layout.chips.size(); ++i)
        if (m_layout.chips[i].contains(p)) return static_cast<int>(i);
    return -1;
}

QColor PlacementView::chipColor(int expert) const {
    if (expert < 0 || expert >= static_cast<int>(m_model.meanLoad.size()) || m_model.experts <= 0) return canvasColors().expert;
    return loadTint(m_model.meanLoad[static_cast<size_t>(expert)] * m_model.experts);
}

QString PlacementView::chipToolTip(int expert) const {
    if (expert < 0 || expert >= m_model.experts) return {};
    int rank = -1;
    for (size_t r = 0; r < m_model.placement.size(); ++r)
        if (std::find(m_model.placement[r].begin(), m_model.placement[r].end(), expert) != m_model.placement[r].end()) rank = static_cast<int>(r);
    const int tp = std::max(1, m_model.tp);
    QString t = tr("Expert %1 on EP rank %2 (GPU %3, node %4)")
                    .arg(expert)
                    .arg(rank)
                    .arg(rank * tp)
                    .arg(rank * tp / std::max(1, m_model.gpusPerNode));
    if (expert < static_cast<int>(m_model.meanLoad.size())) {
        t += tr("\nLoad: %1 of the token-expert assignments (mean over %2 layers; an even split is %3)")
                 .arg(pct(m_model.meanLoad[static_cast<size_t>(expert)]))
                 .arg(m_model.layers)
                 .arg(pct(1.0 / m_model.experts));
        if (expert < static_cast<int>(m_model.maxLoad.size()))
            t += tr("\nHottest layer: %1").arg(pct(m_model.maxLoad[static_cast<size_t>(expert)]));
        if (!m_model.routing.isEmpty()) t += tr("\nRouting: %1").arg(m_model.routing);
    } else t += tr("\nLoad: not simulated yet");
    if (m_editable) t += tr("\nDrag onto another GPU to move it.");
    return t;
}

void PlacementView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const auto& cc = canvasColors();
    const QPalette pal = palette();
    QFont small = font();
    small.setPointSizeF(std::min(small.pointSizeF(), 8.0));
    p.setFont(small);
    const int tp = std::max(1, m_model.tp);
    for (size_t n = 0; n < m_layout.nodes.size(); ++n) {
        const QRect r = m_layout.nodes[n];
        p.setPen(QPen(pal.color(QPalette::Mid), 1));
        p.setBrush(pal.color(QPalette::AlternateBase));
        p.drawRoundedRect(r.adjusted(0, 0, -1, -1), 5, 5);
        p.setPen(pal.color(QPalette::Text));
        p.drawText(r.adjusted(6, 1, -6, 0), Qt::AlignLeft | Qt::AlignTop, tr("node %1").arg(m_layout.nodeIds[n]));
    }
    for (size_t e = 0; e < m_layout.ranks.size(); ++e) {
        const QRect r = m_layout.ranks[e];
        const bool straggler = static_cast<int>(e) == m_model.stragglerEpRank;
        const bool drop = m_dragging && static_cast<int>(e) == m_dropRank;
        p.setPen(QPen(straggler ? cc.cardInvalid : (drop ? pal.color(QPalette::Highlight) : pal.color(QPalette::Mid)), straggler || drop ? 2 : 1));
        p.setBrush(drop ? mix(pal.color(QPalette::Base), pal.color(QPalette::Highlight), 0.25) : pal.color(QPalette::Base));
        p.drawRoundedRect(r.adjusted(1, 1, -1, -1), 4, 4);
        p.setPen(straggler ? cc.cardInvalid : pal.color(QPalette::Text));
        const int g = static_cast<int>(e) * tp;
        QString title = tp > 1 ? tr("GPU %1-%2").arg(g).arg(g + tp - 1) : tr("GPU %1").arg(g);
        if (straggler) title += QStringLiteral(" ⚠");
        p.drawText(QRect(r.x() + kPad, r.y() + 1, r.width() - 2 * kPad, kTitleH), Qt::AlignLeft | Qt::AlignVCenter, title);
    }
    for (size_t x = 0; x < m_layout.chips.size(); ++x) {
        QRect r = m_layout.chips[x];
        if (r.isNull()) continue;
        const bool lifted = m_dragging && static_cast<int>(x) == m_pressExpert;
        const QColor c = chipColor(static_cast<int>(x));
        p.setPen(QPen(lifted ? pal.color(QPalette::Mid) : c.darker(130), 1, lifted ? Qt::DashLine : Qt::SolidLine));
        p.setBrush(lifted ? Qt::transparent : QBrush(c));
        p.drawRoundedRect(r, 3, 3);
        p.setPen(c.lightnessF() > 0.55 ? QColor(0x20, 0x20, 0x20) : QColor(0xf4, 0xf4, 0xf4));
        if (!lifted) p.drawText(r, Qt::AlignCenter, QString::number(x));
    }
    if (m_dragging && m_pressExpert >= 0) {
        const QRect r(m_dragPos - QPoint(kChipW / 2, kChipH / 2), QSize(kChipW, kChipH));
        const QColor c = chipColor(m_pressExpert);
        p.setPen(QPen(pal.color(QPalette::Highlight), 2));
        p.setBrush(c);
        p.drawRoundedRect(r, 3, 3);
        p.setPen(c.lightnessF() > 0.55 ? QColor(0x20, 0x20, 0x20) : QColor(0xf4, 0xf4, 0xf4));
        p.drawText(r, Qt::AlignCenter, QString::number(m_pressExpert));
    }
}

void PlacementView::mousePressEvent(QMouseEvent* e) {
    if (e->button() != Qt::LeftButton || !m_editable) return QWidget::mousePressEvent(e);
    m_pressExpert = expertAt(e->position().toPoint());
    m_pressPos = e->position().toPoint();
    m_dragging = false;
}

void PlacementView::mouseMoveEvent(QMouseEvent* e) {
    if (m_pressExpert < 0 || !(e->buttons() & Qt::LeftButton)) return QWidget::mouseMoveEvent(e);
    m_dragPos = e->position().toPoint();
    if (!m_dragging && (m_dragPos - m_pressPos).manhattanLength() < 4) return;
    if (!m_dragging) setCursor(Qt::ClosedHandCursor);
    m_dragging = true;
    m_dropRank = rankAt(m_dragPos);
    update();
}

void PlacementView::mouseReleaseEvent(QMouseEvent* e) {
    if (e->button() != Qt::LeftButton) return QWidget::mouseReleaseEvent(e);
    const int expert = m_pressExpert;
    const bool dragged = m_dragging;
    const int to = rankAt(e->position().toPoint());
    m_pressExpert = -1;
    m_dragging = false;
    m_dropRank = -1;
    if (m_editable) setCursor(Qt::OpenHandCursor);
    update();
    if (dragged && expert >= 0 && to >= 0) Q_EMIT expertMoveRequested(expert, to);
}

bool PlacementView::event(QEvent* e) {
    if (e->type() == QEvent::ToolTip) {
        auto* he = static_cast<QHelpEvent*>(e);
        const int x = expertAt(he->pos());
        QString text = chipToolTip(x);
        if (text.isEmpty()) {
            const int r = rankAt(he->pos());
            if (r >= 0) {
                const auto& list = m_model.placement[static_cast<size_t>(r)];
                double load = 0;
                for (int ex : list)
                    if (ex >= 0 && ex < static_cast<int>(m_model.meanLoad.size())) load += m_model.meanLoad[static_cast<size_t>(ex)];
                text = tr("EP rank %1: %n expert(s)", nullptr, static_cast<int>(list.size())).arg(r);
                if (!m_model.meanLoad.empty()) text += tr("; %1 of the assignments (mean over layers)").arg(pct(load));
                if (r == m_model.stragglerEpRank) text += tr("\nThe straggler: its experts finish last most often.");
            }
        }
        if (text.isEmpty()) QToolTip::hideText();
        else QToolTip::showText(he->globalPos(), text, this);
        return true;
    }
    return QWidget::event(e);
}

}  // namespace moe::studio
