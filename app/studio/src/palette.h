#pragma once
// The palette: block kinds, expert kinds and routers that can be dragged onto the canvas.
// Blocks insert at the drop position; experts and routers change the MoE block they land on.

#include <QString>
#include <QTreeWidget>

#include <vector>

#include "document.h"

namespace moe::studio {

inline constexpr const char* kPaletteMime = "application/x-moe-studio-palette";

struct PaletteEntry {
    QString id;        // "block:moe", "stem:embedding", "expert:shared", "router:topk", ...
    QString title;
    QString help;
    QString group;     // Blocks, Attention, Experts, Routers
    bool advanced = false;  // hidden in classroom mode
};

const std::vector<PaletteEntry>& paletteEntries();
bool isBlockEntry(const QString& id);
// Entries that change the model as a whole (the stem): they apply wherever they are dropped.
bool isModelEntry(const QString& id);

// The blocks the palette inserts (also the inspector's presets): attention of a kind sized for
// a residual width, a dense SwiGLU block, and a transformer layer group (attention + MoE, x4).
moe::spec::BlockSpec attentionPreset(moe::spec::AttentionKind kind, int dModel);
moe::spec::BlockSpec gatedFfnBlock();
moe::spec::BlockSpec transformerLayerGroup(const moe::spec::ModelSpec& m);

// Applies an entry: block entries insert at `insertIndex`; model entries change the model;
// expert and router entries change `target` (an MoE block, or child `child` of a layer group).
// Returns an empty string, or why it cannot be applied.
QString applyPaletteEntry(ProjectDocument& doc, const QString& id, int insertIndex, BlockId target, int child = -1);

class PaletteWidget : public QTreeWidget {
    Q_OBJECT
public:
    explicit PaletteWidget(QWidget* parent = nullptr);
    void setClassroom(bool on);

Q_SIGNALS:
    void activated(const QString& id);  // double click: add to the end / to the selected block

protected:
    QMimeData* mimeData(const QList<QTreeWidgetItem*>& items) const override;
    QStringList mimeTypes() const override;
};

}  // namespace moe::studio
