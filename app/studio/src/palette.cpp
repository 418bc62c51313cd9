#include "palette.h"

#include "format.h"

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
            {"block:dense_swiglu", QObject::tr("Gated FFN (SwiGLU)"), QObject::tr("Dense block with a SwiGLU FFN: down(silu(gate(x)) × up(x)), three matrices, no biases (Llama, Mixtral)"), QObject::tr("Blocks")},
            {"block:group", QObject::tr("Transformer layer ×4"), QObject::tr("A layer group: attention then an MoE block, repeated 4 times (edit the repeat and \"first k dense\" in the inspector)"), QObject::tr("Blocks")},
            {"block:attention_mha", QObject::tr("Attention (MHA)"), QObject::tr("Causal multi-head self-attention: every head has its own keys and values"), QObject::tr("Attention")},
            {"block:attention_gqa", QObject::tr("Attention (GQA)"), QObject::tr("Grouped-query attention: heads share fewer key/value heads, a smaller KV cache (Llama 2 70B, Mixtral)"), QObject::tr("Attention")},
            {"block:attention_mla", QObject::tr("Attention (MLA)"), QObject::tr("Multi-head latent attention: keys and values from one compressed latent (DeepSeek-V2/V3)"), QObject::tr("Attention"), true},
            {"stem:embedding", QObject::tr("Token embedding"), QObject::tr("Make the stem a token table (byte-level text, vocab 256) with rotary positions; the input becomes the text corpus"), QObject::tr("Attention")},
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
                         QObject::tr("Router: %1").arg(routerKindName(kind)), QObject::tr(help),
                         QObject::tr("Routers"), !basic});
        }
        return e;
    }();
    return entries;
}

bool isBlockEntry(const QString& id) { return id.startsWith(QLatin1String("block:")); }
bool isModelEntry(const QString& id) { return id.startsWith(QLatin1String("stem:")); }

namespace {

// Heads that divide the residual width (4 when they can, as the small examples use).
int headsFor(int dModel) {
    for (int h : {4, 2, 1})
        if (dModel % h == 0) return h;
    return 1;
}

}  // namespace

spec::BlockSpec attentionPreset(spec::AttentionKind kind, int dModel) {
    spec::BlockSpec b;
    b.kind = spec::BlockKind::Attention;
    b.norm = spec::NormKind::RmsNorm;
    auto& a = b.attention;
    a.kind = kind;
    a.heads = headsFor(dModel);
    a.kvHeads = kind == spec::AttentionKind::Mha ? a.heads : kind == spec::AttentionKind::Mqa ? 1 : std::max(1, a.heads / 2);
    if (kind == spec::AttentionKind::Mla) {
        // DeepSeek-V2's proportions at this width: the latent half of d_model, rotary keys half a head.
        const int head = std::max(2, dModel / a.heads);
        a.kvHeads = a.heads;
        a.kvLoraRank = std::max(4, dModel / 2);
        a.qkNopeHeadDim = head;
        a.qkRopeHeadDim = std::max(2, head / 2 / 2 * 2);
        a.vHeadDim = head;
    }
    return b;
}

spec::BlockSpec gatedFfnBlock() {
    spec::BlockSpec b = ProjectDocument::defaultDenseBlock();
    b.norm = spec::NormKind::RmsNorm;
    b.ffn.activation = spec::Activation::Swiglu;
    b.ffn.bias = false;
    return b;
}

spec::BlockSpec transformerLayerGroup(const spec::ModelSpec& m) {
    spec::BlockSpec g;
    g.kind = spec::BlockKind::Group;
    g.repeat = 4;
    g.label = "transformer layer";
    g.denseFfn = gatedFfnBlock().ffn;
    spec::BlockSpec moe = ProjectDocument::defaultMoeBlock();
    moe.norm = spec::NormKind::RmsNorm;
    moe.ffn.activation = spec::Activation::Swiglu;
    moe.ffn.bias = false;
    if (m.expertSchedule) moe.experts.reset();
    if (m.kSchedule) moe.router.k.reset();
    g.children = {attentionPreset(spec::AttentionKind::Mha, m.stem.dModel), moe};
    return g;
}

QString applyPaletteEntry(ProjectDocument& doc, const QString& id, int insertIndex, BlockId target, int child) {
    if (isBlockEntry(id)) {
        const spec::ModelSpec& model = doc.project().model;
        spec::BlockSpec b = ProjectDocument::defaultMoeBlock();
        if (id == QLatin1String("block:dense")) b = ProjectDocument::defaultDenseBlock();
        else if (id == QLatin1String("block:dense_swiglu")) b = gatedFfnBlock();
        else if (id == QLatin1String("block:group")) b = transformerLayerGroup(model);
        else if (id == QLatin1String("block:attention_mha")) b = attentionPreset(spec::AttentionKind::Mha, model.stem.dModel);
        else if (id == QLatin1String("block:attention_gqa")) b = attentionPreset(spec::AttentionKind::Gqa, model.stem.dModel);
        else if (id == QLatin1String("block:attention_mla")) b = attentionPreset(spec::AttentionKind::Mla, model.stem.dModel);
        else if (id == QLatin1String("block:moe_shared")) b.sharedExperts = 1;
        else if (id == QLatin1String("block:moe_zero")) b.zeroExperts = {1, 1, 1};
        else if (id != QLatin1String("block:moe")) return QObject::tr("unknown palette entry '%1'").arg(id);
        // Blocks follow the model's schedule when it has one.
        if (b.kind == spec::BlockKind::Moe && doc.project().model.expertSchedule) b.experts.reset();
        if (b.kind == spec::BlockKind::Moe && doc.project().model.kSchedule) b.router.k.reset();
        doc.insertBlock(insertIndex, b);
        return {};
    }
    if (id == QLatin1String("stem:embedding")) {
        return doc.edit(QObject::tr("Use a token embedding"), [](spec::Project& p) {
            // A token table reads token ids: the input becomes byte-level text (vocab 256).
            auto& in = p.model.input;
            if (!in.isText()) {
                in.dataset = spec::DatasetKind::Text;
                in.tokens = spec::TokenMode::Sample;
            }
            p.model.stem.kind = spec::StemKind::Embedding;
            p.model.stem.vocab = 256;
            p.model.stem.positions = spec::PositionKind::Rope;
            p.model.head.norm = spec::NormKind::RmsNorm;
        });
    }
    if (!id.startsWith(QLatin1String("expert:")) && !id.startsWith(QLatin1String("router:")))
        return QObject::tr("unknown palette entry '%1'").arg(id);
    const int index = doc.indexOf(target);
    if (index < 0) return QObject::tr("drop it on an MoE block");
    const spec::ModelSpec& model = doc.project().model;
    const spec::BlockSpec& top = model.blocks[static_cast<size_t>(index)];
    if (child >= static_cast<int>(top.children.size())) child = -1;
    const spec::BlockSpec& blk = child >= 0 ? top.children[static_cast<size_t>(child)] : top;
    const QString where = child >= 0 ? QObject::tr("block %1.%2").arg(index).arg(child) : QObject::tr("block %1").arg(index);
    if (blk.kind != spec::BlockKind::Moe)
        return QObject::tr("%1 is %2: experts and routers go on MoE blocks").arg(where, QString::fromUtf8(spec::toString(blk.kind).data()));
    // The expert count the block resolves to (its first layer in the flattened model).
    int layer = 0;
    for (const auto& o : model.layerOrigins()) {
        if (o.block == index && o.child == child && (child < 0 || o.repeat >= top.firstDense)) break;
        ++layer;
    }
    const int experts = layer < model.layerCount() ? model.expertsOf(layer) : spec::kDefaultExperts;
    auto onBlock = [index, child](auto f) {
        return [index, child, f](spec::Project& p) {
            spec::BlockSpec& b = p.model.blocks[static_cast<size_t>(index)];
            f(child >= 0 ? b.children[static_cast<size_t>(child)] : b);
        };
    };
    if (id.startsWith(QLatin1String("router:"))) {
        const auto kind = spec::parseEnum<spec::RouterKind>(id.mid(7).toStdString());
        if (!kind) return QObject::tr("unknown router '%1'").arg(id.mid(7));
        return doc.edit(QObject::tr("Set router of %1 to %2").arg(where).arg(id.mid(7)), onBlock([kind](spec::BlockSpec& b) {
            b.router.kind = *kind;
            if (*kind == spec::RouterKind::SigmoidBias) b.losses.aux = 0;  // it balances with its bias
        }));
    }
    const QString what = id.mid(7);
    return doc.edit(QObject::tr("Add %1 expert to %2").arg(what).arg(where), onBlock([what, experts](spec::BlockSpec& b) {
        if (what == QLatin1String("ffn")) b.experts = experts + 1;
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
