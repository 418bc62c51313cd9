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

// How a block's routed experts are drawn: square tiles in `columns` columns, or for many experts
// (over 32) thin cells in strips of `columns`, every expert present and hoverable.
struct TileLayout {
    int columns = 4;
    double w = 20, h = 20;   // one routed tile or strip cell
    bool strips = false;
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

    // MoE blocks: the router line and the expert tiles (call before setTexts).
    void setMoe(QString routerText, std::vector<TileSpec> tiles, TileLayout layout);
    const std::vector<TileSpec>& tiles() const { return m_tiles; }
    const TileLayout& tileLayout() const { return m_layout; }
    const QStringList& lines() const { return m_lines; }
    const QString& routerText() const { return m_router; }
    int routerLines() const { return m_routerLines; }
    // Tile geometry in item coordinates (for hit tests and tests).
    QRectF tileRect(int i) const;
    bool hasLoads() const;
    // Shares of assignments per routed expert (empty: no data); `routed` scales them so that a
    // balanced layer reads 1.
    void setLoads(const std::vector<double>& shares, int routed);
    // Layers of the flattened model whose routing this card shows (a group child: one per
    // repeat when collapsed, its own repeat when expanded); the tint is their mean load.
    void setLayers(std::vector<int> layers) { m_layers = std::move(layers); }
    const std::vector<int>& layers() const { return m_layers; }
    // Attention blocks: query heads and key/value heads as two rows of cells (call before setTexts).
    void setAttention(int heads, int kvHeads, QString kvNote);
    bool isAttention() const { return m_attention; }
    int headCount() const { return m_heads; }
    int kvHeadCount() const { return m_kvHeads; }
    // What the card's tooltip says at `pos` (item coordinates): the tile's expert and load, or the card.
    QString toolTipAt(QPointF pos) const;

    // Tiles (square, a few) or strips (thin cells, many) for `tiles` routed and `sharedTiles` shared experts.
    static TileLayout layoutFor(int tiles, int sharedTiles);

    QRectF boundingRect() const override;
    void paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

protected:
    QVariant itemChange(GraphicsItemChange change, const QVariant& value) override;
    void mousePressEvent(QGraphicsSceneMouseEvent* e) override;
    void mouseReleaseEvent(QGraphicsSceneMouseEvent* e) override;
    void hoverMoveEvent(QGraphicsSceneHoverEvent* e) override;
    void paintCard(QPainter* p, bool selected, const QRectF& r);
    QString cardToolTip() const;
    void updateToolTip();
    QSizeF m_size;
    QString m_title, m_footer;
    QStringList m_lines;
    QColor m_accent;

private:
    QColor tileFill(const TileSpec& t) const;
    QString tileToolTip(const TileSpec& t) const;
    double tilesTop() const;
    double routerBarHeight() const;
    void paintTiles(QPainter* p, double x, double y, double w);
    void paintHeads(QPainter* p, double x, double y, double w);

    ItemRef m_ref;
    QStringList m_problems;
    bool m_moe = false;
    QString m_router;
    int m_routerLines = 1;  // the router text wraps (never cut) on narrow cards
    std::vector<TileSpec> m_tiles;
    TileLayout m_layout;
    std::vector<int> m_layers;
    bool m_attention = false;
    int m_heads = 0, m_kvHeads = 0;
    QString m_kvNote;
    QPointF m_pressPos;
};

// A layer group: a frame around its children's cards with a "×N" badge (and the "first k dense"
// note). Collapsed, the children are drawn once; expanded, one row per repeat. Double-click or
// the context menu switches.
class GroupItem : public NodeItem {
public:
    enum { Type = UserType + 4 };
    GroupItem(ItemRef ref, QSizeF size, int repeat, QString note, bool expanded);
    int type() const override { return Type; }
    int repeat() const { return m_repeat; }
    bool expanded() const { return m_expanded; }
    QString badgeText() const;
    // Frame geometry: where the children's cards start (item coordinates).
    static double headerHeight();
    static double padding();
    void setFrameSize(QSizeF size);
    void paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget* widget) override;

protected:
    void mouseDoubleClickEvent(QGraphicsSceneMouseEvent* e) override;
    void contextMenuEvent(QGraphicsSceneContextMenuEvent* e) override;

private:
    int m_repeat;
    QString m_note;
    bool m_expanded;
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
