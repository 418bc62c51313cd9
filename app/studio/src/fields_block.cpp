// Inspector fields of one block: structure, FFN, experts, router, capacity and losses; attention;
// a layer group's repeat and first-dense settings (its children are selected on the canvas).
#include "fields_util.h"

namespace moe::studio::detail {
namespace spec = moe::spec;

namespace {
using P = spec::Project;
using V = QVariant;
}  // namespace

namespace {

void attentionFields(std::vector<FieldDef>& out, const spec::BlockSpec& b, const QString& base,
                     const std::function<spec::BlockSpec&(P&)>& B, const std::function<const spec::BlockSpec&(const P&)>& CB) {
    const QString at = QObject::tr("Attention");
    using A = spec::AttentionSpec;
    auto add = [&](FieldDef::Type t, const char* key, QString label, QString help) -> FieldDef& {
        // Attention fields sit flat in the block object of the project file.
        out.push_back(field(t, base + QLatin1Char('.') + QLatin1String(key), std::move(label), at, std::move(help)));
        return out.back();
    };
    auto& kind = add(FieldDef::Enum, "type", QObject::tr("Type"),
                     QObject::tr("mha: a key/value head per query head; gqa: fewer, shared; mqa: one; mla: a compressed latent (DeepSeek)"));
    kind.options = namesOf<spec::AttentionKind>();
    kind.get = [CB](const P& p) { return V(qs(spec::toString(CB(p).attention.kind))); };
    kind.set = [B](P& p, const V& v) {
        auto& a = B(p).attention;
        a.kind = enumOf(v, spec::AttentionKind::Mha);
        // Keep the head counts consistent with the type the user picked.
        if (a.kind == spec::AttentionKind::Mha || a.kind == spec::AttentionKind::Mla) a.kvHeads = a.heads;
        else if (a.kind == spec::AttentionKind::Mqa) a.kvHeads = 1;
        else if (a.kvHeads == a.heads && a.heads % 2 == 0) a.kvHeads = a.heads / 2;
    };
    auto integer = [&](const char* key, QString label, QString help, int lo, int hi, int A::*m, bool adv = false) -> FieldDef& {
        auto& f = add(FieldDef::Int, key, std::move(label), std::move(help));
        f.lo = lo, f.hi = hi, f.advanced = adv;
        f.get = [CB, m](const P& p) { return V(CB(p).attention.*m); };
        f.set = [B, m](P& p, const V& v) { B(p).attention.*m = v.toInt(); };
        return f;
    };
    auto flag = [&](const char* key, QString label, QString help, bool A::*m, bool adv = false) {
        auto& f = add(FieldDef::Bool, key, std::move(label), std::move(help));
        f.advanced = adv;
        f.get = [CB, m](const P& p) { return V(CB(p).attention.*m); };
        f.set = [B, m](P& p, const V& v) { B(p).attention.*m = v.toBool(); };
    };
    integer("heads", QObject::tr("Heads"), QObject::tr("Query heads"), L::kHeads.lo, L::kHeads.hi, &A::heads);
    const bool mla = b.attention.kind == spec::AttentionKind::Mla;
    if (!mla) {
        integer("kv_heads", QObject::tr("KV heads"), QObject::tr("Key/value heads; must divide the heads (= heads: MHA, 1: MQA)"), L::kHeads.lo, L::kHeads.hi, &A::kvHeads);
        auto& hd = integer("head_dim", QObject::tr("Head dim"), QObject::tr("Width of one head; 0: d_model / heads"), 0, L::kHeadDim.hi, &A::headDim, true);
        hd.unit = QObject::tr("0 = auto");
    }
    flag("causal", QObject::tr("Causal"), QObject::tr("A token attends to itself and earlier tokens only (language models)"), &A::causal);
    flag("qk_norm", QObject::tr("QK-norm"), QObject::tr("RMSNorm on queries and keys per head (OLMoE, Qwen3): steadier training"), &A::qkNorm, true);
    auto& win = integer("window", QObject::tr("Window"), QObject::tr("Sliding window in tokens; 0: the whole context"), L::kWindow.lo, L::kWindow.hi, &A::window, true);
    win.unit = QObject::tr("tokens");
    flag("bias", QObject::tr("Bias"), QObject::tr("Biases on the query/key/value/output projections"), &A::bias, true);
    if (mla) {
        integer("q_lora_rank", QObject::tr("Query rank"), QObject::tr("Low-rank query projection; 0: queries straight from d_model"), 0, 1 << 16, &A::qLoraRank);
        integer("kv_lora_rank", QObject::tr("KV latent rank"), QObject::tr("Width of the compressed key/value latent (what the KV cache holds)"), 1, 1 << 16, &A::kvLoraRank);
        integer("qk_nope_head_dim", QObject::tr("QK head dim"), QObject::tr("Per-head query/key width without rotary positions"), L::kHeadDim.lo, L::kHeadDim.hi, &A::qkNopeHeadDim);
        integer("qk_rope_head_dim", QObject::tr("QK rope dim"), QObject::tr("Decoupled rotary key/query width (shared key across heads)"), L::kRopeHeadDim.lo, L::kRopeHeadDim.hi, &A::qkRopeHeadDim);
        integer("v_head_dim", QObject::tr("V head dim"), QObject::tr("Per-head value width"), L::kHeadDim.lo, L::kHeadDim.hi, &A::vHeadDim);
    }
}

void groupFields(std::vector<FieldDef>& out, const QString& base, const std::function<spec::BlockSpec&(P&)>& B,
                 const std::function<const spec::BlockSpec&(const P&)>& CB) {
    const QString gr = QObject::tr("Layer group");
    auto& rep = out.emplace_back(field(FieldDef::Int, base + QStringLiteral(".repeat"), QObject::tr("Repeat"), gr,
                                       QObject::tr("Times the children run in sequence (a transformer's layer count)")));
    within(rep, L::kRepeat), rep.unit = QObject::tr("×");
    rep.get = [CB](const P& p) { return V(CB(p).repeat); };
    rep.set = [B](P& p, const V& v) { B(p).repeat = v.toInt(); };
    auto& fd = out.emplace_back(field(FieldDef::Int, base + QStringLiteral(".first_dense"), QObject::tr("First dense"), gr,
                                      QObject::tr("In the first k repeats every MoE child is a dense FFN (DeepSeek's first k dense layers)")));
    within(fd, L::kFirstDense), fd.unit = QObject::tr("repeats");
    fd.get = [CB](const P& p) { return V(CB(p).firstDense); };
    fd.set = [B](P& p, const V& v) { B(p).firstDense = v.toInt(); };
    auto& dh = out.emplace_back(field(FieldDef::Int, base + QStringLiteral(".dense_ffn.hidden"), QObject::tr("Dense FFN hidden"), gr,
                                      QObject::tr("Hidden width of the FFN that replaces the MoE children in the first dense repeats")));
    within(dh, L::kWidth), dh.unit = QObject::tr("units");
    dh.get = [CB](const P& p) { return V(CB(p).denseFfn.hidden); };
    dh.set = [B](P& p, const V& v) { B(p).denseFfn.hidden = v.toInt(); };
    auto& da = out.emplace_back(field(FieldDef::Enum, base + QStringLiteral(".dense_ffn.activation"), QObject::tr("Dense FFN activation"), gr, {}));
    da.options = namesOf<spec::Activation>();
    da.get = [CB](const P& p) { return V(qs(spec::toString(CB(p).denseFfn.activation))); };
    da.set = [B](P& p, const V& v) { B(p).denseFfn.activation = enumOf(v, spec::Activation::Swiglu); };
}

}  // namespace

void blockFields(std::vector<FieldDef>& out, const spec::Project& proj, int i, int child) {
    const spec::BlockSpec& top = proj.model.blocks[static_cast<size_t>(i)];
    if (child >= static_cast<int>(top.children.size())) return;
    const spec::BlockSpec& b = child >= 0 ? top.children[static_cast<size_t>(child)] : top;
    const QString base = child >= 0 ? QStringLiteral("model.blocks[%1].blocks[%2]").arg(i).arg(child) : QStringLiteral("model.blocks[%1]").arg(i);
    const size_t bi = static_cast<size_t>(i);
    std::function<spec::BlockSpec&(P&)> B = [bi, child](P& p) -> spec::BlockSpec& {
        return child >= 0 ? p.model.blocks[bi].children[static_cast<size_t>(child)] : p.model.blocks[bi];
    };
    std::function<const spec::BlockSpec&(const P&)> CB = [bi, child](const P& p) -> const spec::BlockSpec& {
        return child >= 0 ? p.model.blocks[bi].children[static_cast<size_t>(child)] : p.model.blocks[bi];
    };
    auto add = [&](FieldDef::Type t, const char* key, QString label, QString section, QString help) -> FieldDef& {
        out.push_back(field(t, base + QLatin1Char('.') + QLatin1String(key), std::move(label), std::move(section), std::move(help)));
        return out.back();
    };

    const QString blk = QObject::tr("Block");
    auto& label = add(FieldDef::Text, "label", QObject::tr("Label"), blk, QObject::tr("Optional display name"));
    label.get = [CB](const P& p) { return V(QString::fromStdString(CB(p).label)); };
    label.set = [B](P& p, const V& v) { B(p).label = v.toString().toStdString(); };
    if (b.kind == spec::BlockKind::Group) {
        groupFields(out, base, B, CB);
        return;
    }
    auto& kind = add(FieldDef::Enum, "kind", QObject::tr("Kind"), blk,
                     QObject::tr("dense: one FFN for every token; moe: routed experts; attention: tokens of a sample exchange information"));
    // Groups are inserted from the palette (they hold blocks); a group child cannot become one.
    for (auto n : spec::allNames<spec::BlockKind>())
        if (n != spec::toString(spec::BlockKind::Group)) kind.options << qs(n);
    kind.get = [CB](const P& p) { return V(qs(spec::toString(CB(p).kind))); };
    kind.set = [B](P& p, const V& v) {
        auto& blk = B(p);
        blk.kind = enumOf(v, spec::BlockKind::Moe);
        if (blk.kind == spec::BlockKind::Moe && !blk.experts && !p.model.expertSchedule) blk.experts = spec::kDefaultExperts;
    };
    auto& norm = add(FieldDef::Enum, "norm", QObject::tr("Norm"), blk, QObject::tr("Pre-normalisation of the block's input"));
    norm.options = namesOf<spec::NormKind>();
    norm.advanced = true;
    norm.get = [CB](const P& p) { return V(qs(spec::toString(CB(p).norm))); };
    norm.set = [B](P& p, const V& v) { B(p).norm = enumOf(v, spec::NormKind::LayerNorm); };
    auto& res = add(FieldDef::Bool, "residual", QObject::tr("Residual"), blk, QObject::tr("Add the block's output to its input"));
    res.advanced = true;
    res.get = [CB](const P& p) { return V(CB(p).residual); };
    res.set = [B](P& p, const V& v) { B(p).residual = v.toBool(); };
    if (b.kind == spec::BlockKind::Attention) {
        attentionFields(out, b, base, B, CB);
        return;
    }

    const QString ffn = b.kind == spec::BlockKind::Moe ? QObject::tr("Each FFN expert") : QObject::tr("FFN");
    auto& hid = add(FieldDef::Int, "ffn.hidden", QObject::tr("Hidden width"), ffn, QObject::tr("Linear(d → hidden) → activation → Linear(hidden → d)"));
    within(hid, L::kWidth), hid.unit = QObject::tr("units");
    hid.get = [CB](const P& p) { return V(CB(p).ffn.hidden); };
    hid.set = [B](P& p, const V& v) { B(p).ffn.hidden = v.toInt(); };
    auto& act = add(FieldDef::Enum, "ffn.activation", QObject::tr("Activation"), ffn, {});
    act.options = namesOf<spec::Activation>();
    act.get = [CB](const P& p) { return V(qs(spec::toString(CB(p).ffn.activation))); };
    act.help = QObject::tr("swiglu and geglu are gated: down(act(gate(x)) × up(x)), three matrices");
    act.set = [B](P& p, const V& v) { B(p).ffn.activation = enumOf(v, spec::Activation::Gelu); };
    auto& fb = add(FieldDef::Bool, "ffn.bias", QObject::tr("Biases"), ffn, QObject::tr("Biases on the FFN's linear layers (gated FFNs usually have none)"));
    fb.advanced = true;
    fb.get = [CB](const P& p) { return V(CB(p).ffn.bias); };
    fb.set = [B](P& p, const V& v) { B(p).ffn.bias = v.toBool(); };
    if (b.kind != spec::BlockKind::Moe) return;

    const QString ex = QObject::tr("Experts");
    auto& experts = add(FieldDef::OptInt, "experts", QObject::tr("Routed FFN experts"), ex,
                        QObject::tr("Experts the router chooses among; \"from schedule\" follows the model's expert schedule"));
    within(experts, L::kExperts), experts.specialText = QObject::tr("from schedule");
    experts.get = [CB](const P& p) { return CB(p).experts ? V(*CB(p).experts) : V(); };
    experts.set = [B](P& p, const V& v) {
        if (v.isNull()) B(p).experts.reset();
        else B(p).experts = v.toInt();
    };
    auto& shared = add(FieldDef::Int, "shared_experts", QObject::tr("Shared experts"), ex, QObject::tr("Experts every token goes through, besides its routed ones"));
    within(shared, L::kSharedExperts);
    shared.get = [CB](const P& p) { return V(CB(p).sharedExperts); };
    shared.set = [B](P& p, const V& v) { B(p).sharedExperts = v.toInt(); };
    const std::pair<const char*, int spec::ZeroExpertsSpec::*> zeros[] = {
        {"zero", &spec::ZeroExpertsSpec::zero}, {"copy", &spec::ZeroExpertsSpec::copy}, {"constant", &spec::ZeroExpertsSpec::constant}};
    const QString zhelp[] = {QObject::tr("MoE++: outputs 0, so the token skips compute"), QObject::tr("MoE++: passes the token through unchanged"),
                             QObject::tr("MoE++: a learned mix of the token and a learned vector")};
    for (int z = 0; z < 3; ++z) {
        auto member = zeros[z].second;
        auto& f = out.emplace_back(field(FieldDef::Int, base + QStringLiteral(".zero_experts.") + QLatin1String(zeros[z].first),
                                         QObject::tr("%1 experts").arg(QString::fromLatin1(zeros[z].first)), ex, zhelp[z]));
        within(f, L::kZeroExperts), f.advanced = true;
        f.get = [CB, member](const P& p) { return V(CB(p).zeroExperts.*member); };
        f.set = [B, member](P& p, const V& v) { B(p).zeroExperts.*member = v.toInt(); };
    }

    const QString rt = QObject::tr("Router");
    using K = spec::RouterKind;
    const K rk = b.router.kind;
    auto& rkind = add(FieldDef::Enum, "router.kind", QObject::tr("Kind"), rt, QObject::tr("How tokens are assigned to experts"));
    rkind.options = namesOf<K>();
    for (auto n : moe::spec::allNames<K>()) rkind.optionLabels << routerKindName(*moe::spec::parseEnum<K>(std::string(n)));
    rkind.get = [CB](const P& p) { return V(qs(spec::toString(CB(p).router.kind))); };
    rkind.set = [B](P& p, const V& v) { B(p).router.kind = enumOf(v, K::TopK); };
    if (rk != K::ExpertChoice && rk != K::Dynamic) {
        auto& k = add(FieldDef::OptInt, "router.k", QObject::tr("Experts per token (k)"), rt, QObject::tr("Experts per token; \"from schedule\" follows the model's k schedule"));
        within(k, L::kExperts), k.specialText = QObject::tr("from schedule");
        k.unit = QObject::tr("experts/token");
        k.get = [CB](const P& p) { return CB(p).router.k ? V(*CB(p).router.k) : V(); };
        k.set = [B](P& p, const V& v) {
            if (v.isNull()) B(p).router.k.reset();
            else B(p).router.k = v.toInt();
        };
    }
    auto dbl = [&](const char* key, QString label, QString help, double lo, double hi, double spec::RouterSpec::*m, bool adv) {
        auto& f = add(FieldDef::Double, key, std::move(label), rt, std::move(help));
        f.lo = lo, f.hi = hi, f.advanced = adv;
        f.get = [CB, m](const P& p) { return V(CB(p).router.*m); };
        f.set = [B, m](P& p, const V& v) { B(p).router.*m = v.toDouble(); };
    };
    auto integer = [&](const char* key, QString label, QString help, int lo, int hi, int spec::RouterSpec::*m) {
        auto& f = add(FieldDef::Int, key, std::move(label), rt, std::move(help));
        f.lo = lo, f.hi = hi;
        f.get = [CB, m](const P& p) { return V(CB(p).router.*m); };
        f.set = [B, m](P& p, const V& v) { B(p).router.*m = v.toInt(); };
    };
    if (rk != K::Hash && rk != K::SigmoidBias)
        dbl("router.temperature", QObject::tr("Temperature"), QObject::tr("Softmax temperature (0.001 to 1000)"), L::kTemperature.lo, L::kTemperature.hi, &spec::RouterSpec::temperature, true);
    if (rk != K::Hash) dbl("router.noise", QObject::tr("Noise"), QObject::tr("Gaussian jitter on router logits while training (0 to 100)"), L::kRouterNoise.lo, L::kRouterNoise.hi, &spec::RouterSpec::noise, true);
    if (rk == K::TopK || rk == K::SigmoidBias || rk == K::Sinkhorn) {
        auto& f = add(FieldDef::Bool, "router.renormalize", QObject::tr("Renormalise gates"), rt, QObject::tr("Chosen gates sum to 1"));
        f.advanced = true;
        f.get = [CB](const P& p) { return V(CB(p).router.renormalize); };
        f.set = [B](P& p, const V& v) { B(p).router.renormalize = v.toBool(); };
    }
    if (rk == K::ExpertChoice)
        dbl("router.capacity_factor", QObject::tr("Capacity factor"), QObject::tr("Each expert takes factor × tokens / experts (0.01 to 64)"), L::kCapacityFactor.lo, L::kCapacityFactor.hi, &spec::RouterSpec::capacityFactor, false);
    if (rk == K::Dynamic) {
        dbl("router.tau", QObject::tr("τ"), QObject::tr("Probability mass a token collects before it stops taking experts (0 to 1)"), L::kTau.lo, L::kTau.hi, &spec::RouterSpec::tau, false);
        integer("router.min_experts", QObject::tr("Min experts"), QObject::tr("At least this many per token"), L::kExperts.lo, L::kExperts.hi, &spec::RouterSpec::minExperts);
        integer("router.max_experts", QObject::tr("Max experts"), QObject::tr("At most this many per token"), L::kExperts.lo, L::kExperts.hi, &spec::RouterSpec::maxExperts);
    }
    if (rk == K::Unified) dbl("router.alpha", QObject::tr("α"), QObject::tr("Weight of softmax vs sigmoid scores (0 to 1)"), L::kAlpha.lo, L::kAlpha.hi, &spec::RouterSpec::alpha, false);
    if (rk == K::Sinkhorn) integer("router.iterations", QObject::tr("Iterations"), QObject::tr("Sinkhorn normalisation rounds (1 to 100)"), L::kSinkhornIterations.lo, L::kSinkhornIterations.hi, &spec::RouterSpec::iterations);
    if (rk == K::TopK || rk == K::SigmoidBias) {
        integer("router.groups", QObject::tr("Expert groups"), QObject::tr("Group-limited routing (DeepSeek-V3): the routed experts form this many equal groups; 1: none"), L::kExperts.lo, L::kExperts.hi, &spec::RouterSpec::groups);
        if (b.router.groups > 1)
            integer("router.topk_groups", QObject::tr("Groups per token"), QObject::tr("A token picks its k experts from its best this-many groups"), L::kExperts.lo, L::kExperts.hi, &spec::RouterSpec::topkGroups);
    }
    if (rk == K::SigmoidBias)
        dbl("router.bias_update_rate", QObject::tr("Bias update rate"), QObject::tr("Bias step toward balance after each step (0 to 1)"), L::kBiasUpdateRate.lo, L::kBiasUpdateRate.hi, &spec::RouterSpec::biasUpdateRate, false);

    const QString cap = QObject::tr("Capacity");
    auto& dropless = add(FieldDef::Bool, "capacity.dropless", QObject::tr("Dropless"), cap, QObject::tr("No capacity limit: no token is ever dropped"));
    dropless.get = [CB](const P& p) { return V(CB(p).capacity.dropless); };
    dropless.set = [B](P& p, const V& v) { B(p).capacity.dropless = v.toBool(); };
    if (!b.capacity.dropless) {
        auto& f = add(FieldDef::Double, "capacity.factor", QObject::tr("Capacity factor"), cap,
                      QObject::tr("capacity = ceil(factor × tokens × k / experts), 0.01 to 64"));
        within(f, L::kCapacityFactor);
        f.get = [CB](const P& p) { return V(CB(p).capacity.factor); };
        f.set = [B](P& p, const V& v) { B(p).capacity.factor = v.toDouble(); };
        auto& dp = add(FieldDef::Enum, "capacity.drop_policy", QObject::tr("Drop policy"), cap,
                       QObject::tr("probs: drop the lowest gates first; position: drop the latest tokens"));
        dp.options = namesOf<spec::DropPolicy>();
        dp.advanced = true;
        dp.get = [CB](const P& p) { return V(qs(spec::toString(CB(p).capacity.dropPolicy))); };
        dp.set = [B](P& p, const V& v) { B(p).capacity.dropPolicy = enumOf(v, spec::DropPolicy::Probs); };
    }

    const QString ls = QObject::tr("Losses");
    auto& aux = add(FieldDef::Double, "losses.aux", QObject::tr("Aux loss"), ls,
                    QObject::tr("Load-balancing coefficient (0 to 100). 0 lets experts collapse; 0.01 is typical."));
    within(aux, L::kLossCoefficient);
    aux.get = [CB](const P& p) { return V(CB(p).losses.aux); };
    aux.set = [B](P& p, const V& v) { B(p).losses.aux = v.toDouble(); };
    auto& z = add(FieldDef::Double, "losses.z", QObject::tr("z-loss"), ls, QObject::tr("Router z-loss coefficient (0 to 100): keeps logits small"));
    within(z, L::kLossCoefficient), z.advanced = true;
    z.get = [CB](const P& p) { return V(CB(p).losses.z); };
    z.set = [B](P& p, const V& v) { B(p).losses.z = v.toDouble(); };
}

}  // namespace moe::studio::detail
