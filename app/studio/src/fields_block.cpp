// Inspector fields of one block: structure, FFN, experts, router, capacity and losses.
#include "fields_util.h"

namespace moe::studio::detail {
namespace spec = moe::spec;

namespace {
using P = spec::Project;
using V = QVariant;
}  // namespace

void blockFields(std::vector<FieldDef>& out, const spec::Project& proj, int i) {
    const spec::BlockSpec& b = proj.model.blocks[static_cast<size_t>(i)];
    const QString base = QStringLiteral("model.blocks[%1]").arg(i);
    const size_t bi = static_cast<size_t>(i);
    auto B = [bi](P& p) -> spec::BlockSpec& { return p.model.blocks[bi]; };
    auto CB = [bi](const P& p) -> const spec::BlockSpec& { return p.model.blocks[bi]; };
    auto add = [&](FieldDef::Type t, const char* key, QString label, QString section, QString help) -> FieldDef& {
        out.push_back(field(t, base + QLatin1Char('.') + QLatin1String(key), std::move(label), std::move(section), std::move(help)));
        return out.back();
    };

    const QString blk = QObject::tr("Block");
    auto& label = add(FieldDef::Text, "label", QObject::tr("Label"), blk, QObject::tr("Optional display name"));
    label.get = [CB](const P& p) { return V(QString::fromStdString(CB(p).label)); };
    label.set = [B](P& p, const V& v) { B(p).label = v.toString().toStdString(); };
    auto& kind = add(FieldDef::Enum, "kind", QObject::tr("Kind"), blk, QObject::tr("dense: one FFN for every token; moe: routed experts"));
    kind.options = namesOf<spec::BlockKind>();
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

    const QString ffn = b.kind == spec::BlockKind::Moe ? QObject::tr("Each FFN expert") : QObject::tr("FFN");
    auto& hid = add(FieldDef::Int, "ffn.hidden", QObject::tr("Hidden width"), ffn, QObject::tr("Linear(d → hidden) → activation → Linear(hidden → d)"));
    hid.lo = 1, hid.hi = 1 << 20, hid.unit = QObject::tr("units");
    hid.get = [CB](const P& p) { return V(CB(p).ffn.hidden); };
    hid.set = [B](P& p, const V& v) { B(p).ffn.hidden = v.toInt(); };
    auto& act = add(FieldDef::Enum, "ffn.activation", QObject::tr("Activation"), ffn, {});
    act.options = namesOf<spec::Activation>();
    act.get = [CB](const P& p) { return V(qs(spec::toString(CB(p).ffn.activation))); };
    act.set = [B](P& p, const V& v) { B(p).ffn.activation = enumOf(v, spec::Activation::Gelu); };
    if (b.kind != spec::BlockKind::Moe) return;

    const QString ex = QObject::tr("Experts");
    auto& experts = add(FieldDef::OptInt, "experts", QObject::tr("Routed FFN experts"), ex,
                        QObject::tr("Experts the router chooses among; \"from schedule\" follows the model's expert schedule"));
    experts.lo = 1, experts.hi = 4096, experts.specialText = QObject::tr("from schedule");
    experts.get = [CB](const P& p) { return CB(p).experts ? V(*CB(p).experts) : V(); };
    experts.set = [B](P& p, const V& v) {
        if (v.isNull()) B(p).experts.reset();
        else B(p).experts = v.toInt();
    };
    auto& shared = add(FieldDef::Int, "shared_experts", QObject::tr("Shared experts"), ex, QObject::tr("Experts every token goes through, besides its routed ones"));
    shared.lo = 0, shared.hi = 64;
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
        f.lo = 0, f.hi = 4096, f.advanced = true;
        f.get = [CB, member](const P& p) { return V(CB(p).zeroExperts.*member); };
        f.set = [B, member](P& p, const V& v) { B(p).zeroExperts.*member = v.toInt(); };
    }

    const QString rt = QObject::tr("Router");
    using K = spec::RouterKind;
    const K rk = b.router.kind;
    auto& rkind = add(FieldDef::Enum, "router.kind", QObject::tr("Kind"), rt, QObject::tr("How tokens are assigned to experts"));
    rkind.options = namesOf<K>();
    rkind.get = [CB](const P& p) { return V(qs(spec::toString(CB(p).router.kind))); };
    rkind.set = [B](P& p, const V& v) { B(p).router.kind = enumOf(v, K::TopK); };
    if (rk != K::ExpertChoice && rk != K::Dynamic) {
        auto& k = add(FieldDef::OptInt, "router.k", QObject::tr("k"), rt, QObject::tr("Experts per token; \"from schedule\" follows the model's k schedule"));
        k.lo = 1, k.hi = 4096, k.specialText = QObject::tr("from schedule");
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
        dbl("router.temperature", QObject::tr("Temperature"), QObject::tr("Softmax temperature (0.001 to 1000)"), 1e-3, 1e3, &spec::RouterSpec::temperature, true);
    if (rk != K::Hash) dbl("router.noise", QObject::tr("Noise"), QObject::tr("Gaussian jitter on router logits while training (0 to 100)"), 0, 100, &spec::RouterSpec::noise, true);
    if (rk == K::TopK || rk == K::SigmoidBias || rk == K::Sinkhorn) {
        auto& f = add(FieldDef::Bool, "router.renormalize", QObject::tr("Renormalise gates"), rt, QObject::tr("Chosen gates sum to 1"));
        f.advanced = true;
        f.get = [CB](const P& p) { return V(CB(p).router.renormalize); };
        f.set = [B](P& p, const V& v) { B(p).router.renormalize = v.toBool(); };
    }
    if (rk == K::ExpertChoice)
        dbl("router.capacity_factor", QObject::tr("Capacity factor"), QObject::tr("Each expert takes factor × tokens / experts (0.01 to 64)"), 0.01, 64, &spec::RouterSpec::capacityFactor, false);
    if (rk == K::Dynamic) {
        dbl("router.tau", QObject::tr("τ"), QObject::tr("Probability mass a token collects before it stops taking experts (0 to 1)"), 0, 1, &spec::RouterSpec::tau, false);
        integer("router.min_experts", QObject::tr("Min experts"), QObject::tr("At least this many per token"), 1, 4096, &spec::RouterSpec::minExperts);
        integer("router.max_experts", QObject::tr("Max experts"), QObject::tr("At most this many per token"), 1, 4096, &spec::RouterSpec::maxExperts);
    }
    if (rk == K::Unified) dbl("router.alpha", QObject::tr("α"), QObject::tr("Weight of softmax vs sigmoid scores (0 to 1)"), 0, 1, &spec::RouterSpec::alpha, false);
    if (rk == K::Sinkhorn) integer("router.iterations", QObject::tr("Iterations"), QObject::tr("Sinkhorn normalisation rounds (1 to 100)"), 1, 100, &spec::RouterSpec::iterations);
    if (rk == K::SigmoidBias)
        dbl("router.bias_update_rate", QObject::tr("Bias update rate"), QObject::tr("Bias step toward balance after each step (0 to 1)"), 0, 1, &spec::RouterSpec::biasUpdateRate, false);

    const QString cap = QObject::tr("Capacity");
    auto& dropless = add(FieldDef::Bool, "capacity.dropless", QObject::tr("Dropless"), cap, QObject::tr("No capacity limit: no token is ever dropped"));
    dropless.get = [CB](const P& p) { return V(CB(p).capacity.dropless); };
    dropless.set = [B](P& p, const V& v) { B(p).capacity.dropless = v.toBool(); };
    if (!b.capacity.dropless) {
        auto& f = add(FieldDef::Double, "capacity.factor", QObject::tr("Capacity factor"), cap,
                      QObject::tr("capacity = ceil(factor × tokens × k / experts), 0.01 to 64"));
        f.lo = 0.01, f.hi = 64;
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
    aux.lo = 0, aux.hi = 100;
    aux.get = [CB](const P& p) { return V(CB(p).losses.aux); };
    aux.set = [B](P& p, const V& v) { B(p).losses.aux = v.toDouble(); };
    auto& z = add(FieldDef::Double, "losses.z", QObject::tr("z-loss"), ls, QObject::tr("Router z-loss coefficient (0 to 100): keeps logits small"));
    z.lo = 0, z.hi = 100, z.advanced = true;
    z.get = [CB](const P& p) { return V(CB(p).losses.z); };
    z.set = [B](P& p, const V& v) { B(p).losses.z = v.toDouble(); };
}

}  // namespace moe::studio::detail
