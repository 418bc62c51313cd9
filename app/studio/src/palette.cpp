#include "palette.h"

#include <QHeaderView>
#include <QMimeData>

#include "moe/spec/names.h"

namespace moe::studio {
namespace spec = moe::spec;

const std::vector<PaletteEntry>& paletteEntries() {
    static const std::vector<PaletteEntry> entries = [] {
        std::vector<PaletteEntry> e = {
            {"block:dense", QObject::tr("Dense block"), QObject::tr("Pre-norm FFN with a residual: every token, same weights"), QObject::tr("Blocks")},
            {"block:moe", QObject::tr("MoE block"), QObject::tr("Routed FFN experts behind a top-k router"), QObject::tr("Blocks")},
            {"block:moe_shared", QObject::tr("MoE + shared expert"), QObject::tr("Routed experts plus one expert every token goes through (DeepSeekMoE style)"), QObject::tr("Blocks")},
            {"block:moe_zero", QObject::tr("MoE++ block"), QObject::tr("Routed FFN experts plus zero, copy and constant experts that cost no compute"), QObject::tr("Blocks"), true},
            {"expert:ffn", QObject::tr("FFN expert"), QObject::tr("Drop on an MoE block: one more routed FFN expert"), QObject::tr("Experts")},
            {"expert:shared", QObject::tr("Shared expert"), QObject::tr("Drop on an MoE block: one more always-on expert"), QObject::tr("Experts")},
            {"expert:zero", QObject::tr("Zero expert"), QObject::tr("Drop on an MoE block: an expert that outputs 0 (token skips compute)"), QObject::tr("Experts"), true},
            {"expert:copy", QObject::tr("Copy expert"), QObject::tr("Drop on an MoE block: an expert that passes its input through"), QObject::tr("Experts"), true},
            {"expert:constant", QObject::tr("Constant expert"), QObject::tr("Drop on an MoE block: a learned mix of input and a learned vector"), QObject::tr("Experts"), true},
        };
        const std::pair<spec::RouterKind, const char*> routers[] = {
            {spec::RouterKind::TopK, QT_TR_NOOP("Softmax top-k: each token picks its k best experts")},
            {spec::RouterKind::ExpertChoice, QT_TR_NOOP("Each expert picks its best tokens (balanced by construction)")},
            {spec::RouterKind::Dynamic, QT_TR_NOOP("Tokens take experts until their probability mass passes tau")},
            {spec::RouterKind::Unified, QT_TR_NOOP("Mix of softmax and sigmoid scores")},
            {spec::RouterKind::Hash, QT_TR_NOOP("Fixed hash of the token: no learned router")},
            {spec::RouterKind::Sinkhorn, QT_TR_NOOP("Sinkhorn-balanced assignment")},
            {spec::RouterKind::SigmoidBias, QT_TR_NOOP("Sigmoid scores with a balancing bias instead of an aux loss")},
        };
        for (const auto& [kind, help] : routers) {
            const bool basic = kind == spec::RouterKind::TopK || kind == spec::RouterKind::ExpertChoice;
            e.push_back({QStringLiteral("router:") + QString::fromUtf8(spec::toString(kind).data()),
                         QObject::tr("Router: %1").arg(QString::fromUtf8(spec::toString(kind).data())), QObject::tr(help),
                         QObject::tr("Routers"), !basic});
        }
        return e;
    }();
    return entries;
}

bool isBlockEntry(const QString& id) { return id.startsWith(QLatin1String("block:")); }

QString applyPaletteEntry(ProjectDocument& doc, const QString& id, int insertIndex, BlockId target) {
    if (isBlockEntry(id)) {
        spec::BlockSpec b = ProjectDocument::defaultMoeBlock();
        if (id == QLatin1String("block:dense")) b = ProjectDocument::defaultDenseBlock();
        else if (id == QLatin1String("block:moe_shared")) b.sharedExperts = 1;
        else if (id == QLatin1String("block:moe_zero")) b.zeroExperts = {1, 1, 1};
        else if (id != QLatin1String("block:moe")) return QObject::tr("unknown palette entry '%1'").arg(id);
        // Blocks follow the model's schedule when it has one.
        if (b.kind == spec::BlockKind::Moe && doc.project().model.expertSchedule) b.experts.reset();
        if (b.kind == spec::BlockKind::Moe && doc.project().model.kSchedule) b.router.k.reset();
        doc.insertBlock(insertIndex, b);
        return {};
    }
    const int index = doc.indexOf(target);
    if (index < 0) return QObject::tr("drop it on an MoE block");
    if (doc.project().model.blocks[static_cast<size_t>(index)].kind != spec::BlockKind::Moe)
        return QObject::tr("block %1 is dense: experts and routers go on MoE blocks").arg(index);
    const std::string routedExperts = std::to_string(doc.project().model.expertsOf(index));
    auto onBlock = [index](auto f) {
        return [index, f](spec::Project& p) { f(p.model.blocks[static_cast<size_t>(index)], p.model, index); };
    };
    if (id.startsWith(QLatin1String("router:"))) {
        const auto kind = spec::parseEnum<spec::RouterKind>(id.mid(7).toStdString());
        if (!kind) return QObject::tr("unknown router '%1'").arg(id.mid(7));
        return doc.edit(QObject::tr("Set router of block %1 to %2").arg(index).arg(id.mid(7)), onBlock([kind](spec::BlockSpec& b, spec::ModelSpec&, int) {
            b.router.kind = *kind;
            if (*kind == spec::RouterKind::SigmoidBias) b.losses.aux = 0;  // it balances with its bias
        }));
    }
    const QString what = id.mid(7);
    return doc.edit(QObject::tr("Add %1 expert to block %2").arg(what).arg(index), onBlock([what](spec::BlockSpec& b, spec::ModelSpec& m, int i) {
        if (what == QLatin1String("ffn")) b.experts = m.expertsOf(i) + 1;
        else if (what == QLatin1String("shared")) b.sharedExperts += 1;
        else if (what == QLatin1String("zero")) b.zeroExperts.zero += 1;
        else if (what == QLatin1String("copy")) b.zeroExperts.copy += 1;
        else if (what == QLatin1String("constant")) b.zeroExperts.constant += 1;
    }));
}

PaletteWidget::PaletteWidget(QWidget* parent) : QTreeWidget(parent) {
    setHeaderHidden(true);
    setDragEnabled(true);
    setDragDropMode(QAbstractItemView::DragOnly);
    setRootIsDecorated(false);
    setIndentation(10);
    setUniformRowHeights(true);
    QTreeWidgetItem* group = nullptr;
    for (const auto& e : paletteEntries()) {
        if (!group || group->text(0) != e.group) {
            group = new QTreeWidgetItem(this, {e.group});
            group->setFlags(Qt::ItemIsEnabled);
            QFont f = font();
            f.setBold(true);
            group->setFont(0, f);
            group->setExpanded(true);
        }
        auto* it = new QTreeWidgetItem(group, {e.title});
        it->setData(0, Qt::UserRole, e.id);
        it->setData(0, Qt::UserRole + 1, e.advanced);
        it->setToolTip(0, e.help + QObject::tr("\n(drag onto the canvas, or double-click)"));
        it->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsDragEnabled);
    }
    expandAll();
    connect(this, &QTreeWidget::itemDoubleClicked, this, [this](QTreeWidgetItem* it) {
        const QString id = it->data(0, Qt::UserRole).toString();
        if (!id.isEmpty()) Q_EMIT activated(id);
    });
}

void PaletteWidget::setClassroom(bool on) {
    for (int g = 0; g < topLevelItemCount(); ++g) {
        auto* group = topLevelItem(g);
        for (int i = 0; i < group->childCount(); ++i)
            group->child(i)->setHidden(on && group->child(i)->data(0, Qt::UserRole + 1).toBool());
    }
}

QStringList PaletteWidget::mimeTypes() const { return {QString::fromLatin1(kPaletteMime)}; }

QMimeData* PaletteWidget::mimeData(const QList<QTreeWidgetItem*>& items) const {
    if (items.isEmpty()) return nullptr;
    const QString id = items.first()->data(0, Qt::UserRole).toString();
    if (id.isEmpty()) return nullptr;
    auto* m = new QMimeData;
    m->setData(QString::fromLatin1(kPaletteMime), id.toUtf8());
    m->setText(id);
    return m;
}

}  // namespace moe::studio
