#pragma once
// The network canvas: input -> stem -> blocks -> head drawn left to right. The scene is rebuilt
// from the document after every change (ids keep the selection); it never holds model state.

#include <QGraphicsScene>
#include <QGraphicsView>
#include <QHash>
#include <QSet>

#include <vector>

#include "canvas_items.h"
#include "document.h"

namespace moe::studio {

struct FlatModel;  // the flattened model a rebuild draws from (canvas.cpp)

class NetworkScene : public QGraphicsScene {
    Q_OBJECT
public:
    explicit NetworkScene(ProjectDocument* doc, QObject* parent = nullptr);
    ~NetworkScene() override;

    void rebuild();
    QList<ItemRef> selectedRefs() const;
    std::vector<BlockId> selectedBlocks() const;
    void select(const ItemRef& ref);
    NodeItem* itemFor(const ItemRef& ref) const;
    // Per layer of the flattened model (telemetry's block index), the share of assignments per
    // routed expert (empty vector: no data).
    void setExpertLoads(std::vector<std::vector<double>> shares);
    // Layer groups draw once (collapsed) or one row per repeat (expanded).
    void setGroupExpanded(BlockId id, bool expanded);
    bool groupExpanded(BlockId id) const { return m_expanded.contains(id); }
    // Every card drawn (a group's children once per shown repeat).
    const std::vector<NodeItem*>& cards() const { return m_cards; }
    void clearExpertLoads() { setExpertLoads({}); }
    // Index a block dropped with its centre at `pos` would take (reading order: rows, then x).
    int insertIndexAt(QPointF pos) const;
    void blockDragFinished(BlockId id, QPointF center);
    // Width / height of the view: long chains wrap into rows to fill it.
    void setViewAspect(double aspect);
    int rowCount() const { return static_cast<int>(m_rowY.size()); }
    // Locked: blocks do not move and drops are refused (while training).
    void setLocked(bool locked);
    bool locked() const { return m_locked; }

Q_SIGNALS:
    void selectionRefsChanged();
    void message(const QString& text);  // why a drop was refused
    void relaidOut();                   // the chain wrapped differently (the view refits)

protected:
    void dragEnterEvent(QGraphicsSceneDragDropEvent* e) override;
    void dragMoveEvent(QGraphicsSceneDragDropEvent* e) override;
    void dragLeaveEvent(QGraphicsSceneDragDropEvent* e) override;
    void dropEvent(QGraphicsSceneDragDropEvent* e) override;
    void drawBackground(QPainter* p, const QRectF& rect) override;

private:
    NodeItem* blockAt(QPointF scenePos) const;
    // The group frame with its children's cards.
    NodeItem* buildGroup(int index, BlockId id, const FlatModel& fm, double cardW);
    const moe::spec::BlockSpec* specOf(const ItemRef& ref) const;
    void showMarker(int index);
    void hideMarker();

    ProjectDocument* m_doc;
    QHash<QString, NodeItem*> m_items;   // key: kind/id (a group child: its first shown card)
    std::vector<NodeItem*> m_cards;
    QSet<BlockId> m_expanded;
    int rowOf(qreal y) const;
    double orderKey(QPointF p) const;

    std::vector<QPointF> m_gaps;           // centre of the gap before block i (size = blocks + 1)
    std::vector<qreal> m_rowY;             // centre line of each row
    double m_aspect = 1.6;
    std::vector<std::vector<double>> m_loads;
    InsertMarker* m_marker = nullptr;
    qreal m_markerHeight = 200;
    qreal m_rowGap = 60;
    bool m_rebuilding = false;
    bool m_locked = false;
};

class NetworkView : public QGraphicsView {
    Q_OBJECT
public:
    explicit NetworkView(NetworkScene* scene, QWidget* parent = nullptr);
    void fitAll();
    void zoomBy(double factor);
    double zoom() const { return transform().m11(); }
    // Fit never shrinks body text below this many pixels: a model too big for that is fitted
    // from its start and the rest is reached by scrolling.
    static constexpr double kMinTextPx = 9.0;
    double minFitZoom() const;
    // The tint legend in the view's corner (shown while any expert tile is tinted by load);
    // empty when there is nothing to explain.
    QRectF legendRect() const;

protected:
    void drawForeground(QPainter* p, const QRectF& rect) override;
    void scrollContentsBy(int dx, int dy) override;
    void resizeEvent(QResizeEvent* e) override;
    void wheelEvent(QWheelEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;

private:
    bool m_panning = false;
    QPoint m_panStart;
};

}  // namespace moe::studio
