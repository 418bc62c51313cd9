#pragma once
// The expert placement of a deployment: one box per expert-parallel rank (grouped by node), each
// holding its experts as small chips tinted by their load. Dragging a chip onto another rank asks
// the host to move it (expertMoveRequested); the view itself never changes the placement, so the
// document stays the only source of truth and every move is undoable there.

#include <QRect>
#include <QString>
#include <QWidget>

#include <vector>

namespace moe::studio {

struct PlacementModel {
    std::vector<std::vector<int>> placement;  // experts on each EP rank
    int experts = 0;
    int tp = 1;                               // GPUs per EP rank
    int gpusPerNode = 8;
    std::vector<double> meanLoad;             // [expert] mean share over layers; empty: unknown yet
    std::vector<double> maxLoad;              // [expert] largest share in any layer
    int layers = 0;                           // layers the loads average over
    int stragglerEpRank = -1;
    QString routing;                          // where the loads come from, for tooltips
};

class PlacementView : public QWidget {
    Q_OBJECT
public:
    explicit PlacementView(QWidget* parent = nullptr);

    void setModel(PlacementModel m);
    const PlacementModel& model() const { return m_model; }
    void setEditable(bool on);

    // Layout queries (tests, tooltips): the rank box and the chip of an expert, in widget pixels.
    QRect rankRect(int epRank) const;
    QRect chipRect(int expert) const;
    int rankAt(const QPoint& p) const;
    int expertAt(const QPoint& p) const;
    QString chipToolTip(int expert) const;

    bool hasHeightForWidth() const override { return true; }
    int heightForWidth(int w) const override;
    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

Q_SIGNALS:
    void expertMoveRequested(int expert, int toEpRank);

protected:
    void paintEvent(QPaintEvent* e) override;
    void resizeEvent(QResizeEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    bool event(QEvent* e) override;

private:
    struct Layout {
        std::vector<QRect> ranks;    // [ep rank]
        std::vector<QRect> chips;    // [expert]; empty rect when not placed
        std::vector<QRect> nodes;    // node frames
        std::vector<int> nodeIds;
        int height = 0;
    };
    Layout computeLayout(int width) const;
    QColor chipColor(int expert) const;
    void relayout();

    PlacementModel m_model;
    Layout m_layout;
    bool m_editable = true;
    int m_pressExpert = -1;
    QPoint m_pressPos, m_dragPos;
    bool m_dragging = false;
    int m_dropRank = -1;
};

}  // namespace moe::studio
