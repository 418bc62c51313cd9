#pragma once
// Graphics items of the network canvas. They draw what the scene hands them (plain figures
// computed from the document); they never edit the project themselves.

#include <QGraphicsItem>
#include <QStringList>

#include <vector>

#include "document.h"

namespace moe::studio {

class NetworkScene;

// What one expert tile shows.
struct TileSpec {
    enum Kind { Ffn, Shared, Zero, Copy, Constant };
    Kind kind = Ffn;
    int index = 0;         // routed index (shared experts: their own index)
    double load = -1;      // relative load (share x routed experts); -1: no training data
};

// A card on the canvas: input, stem, a block or the head.
class NodeItem : public QGraphicsItem {
public:
    enum { Type = UserType + 1 };
    NodeItem(ItemRef ref, QSizeF size);
    int type() const override { return Type; }
    const ItemRef& ref() const { return m_ref; }

    void setTexts(QString title, QStringList lines, QString footer);
    void setAccent(QColor c) { m_accent = c; }
    void setProblems(const QStringList& messages);
    bool invalid() const { return !m_problems.isEmpty(); }
    const QStringList& problems() const { return m_problems; }

    // MoE blocks: the router line and the expert tiles.
    void setMoe(QString routerText, std::vector<TileSpec> tiles, int columns, double tileSize, int hiddenTiles);
    const std::vector<TileSpec>& tiles() const { return m_tiles; }
    // Tile geometry in item coordinates (for hit tests and tests).
    QRectF tileRect(int i) const;
    bool hasLoads() const;
    // Shares of assignments per routed expert (empty: no data); `routed` scales them so that a
    // balanced layer reads 1.
    void setLoads(const std::vector<double>& shares, int routed);

    static QSizeF moeCardSize(int tiles, int sharedTiles, int* columns, double* tileSize, int* shownTiles);

    QRectF boundingRect() const override;
    void paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

protected:
    QVariant itemChange(GraphicsItemChange change, const QVariant& value) override;
    void mousePressEvent(QGraphicsSceneMouseEvent* e) override;
    void mouseReleaseEvent(QGraphicsSceneMouseEvent* e) override;
    void hoverMoveEvent(QGraphicsSceneHoverEvent* e) override;

private:
    QColor tileFill(const TileSpec& t) const;
    QString tileToolTip(const TileSpec& t) const;
    void updateToolTip();

    ItemRef m_ref;
    QSizeF m_size;
    QString m_title, m_footer;
    QStringList m_lines;
    QColor m_accent;
    QStringList m_problems;
    bool m_moe = false;
    QString m_router;
    std::vector<TileSpec> m_tiles;
    int m_columns = 4;
    double m_tileSize = 20;
    int m_hiddenTiles = 0;
    QPointF m_pressPos;
};

// The arrow from one card to the next (a polyline when the chain wraps to the next row).
class EdgeItem : public QGraphicsItem {
public:
    explicit EdgeItem(QPolygonF points);
    QRectF boundingRect() const override;
    void paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

private:
    QPolygonF m_points;
};

// Where a dragged block or palette entry would land.
class InsertMarker : public QGraphicsItem {
public:
    explicit InsertMarker(qreal height) : m_h(height) {}
    QRectF boundingRect() const override { return {-3, -m_h / 2 - 4, 6, m_h + 8}; }
    void paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

private:
    qreal m_h;
};

}  // namespace moe::studio
