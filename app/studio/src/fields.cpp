#include "fields.h"

#include <QObject>

#include "fields_util.h"

namespace moe::studio {
namespace spec = moe::spec;

using namespace detail;

namespace {

using P = spec::Project;
using V = QVariant;

// Schedule fields for model.schedule.experts / model.schedule.k.
void scheduleFields(std::vector<FieldDef>& out, const spec::Project& proj, bool experts) {
    const QString base = experts ? QStringLiteral("model.schedule.experts") : QStringLiteral("model.schedule.k");
    const QString section = experts ? QObject::tr("Expert schedule") : QObject::tr("k schedule");
    auto sched = [experts](P& p) -> std::optional<spec::Schedule>& { return experts ? p.model.expertSchedule : p.model.kSchedule; };
    auto csched = [experts](const P& p) -> const std::optional<spec::Schedule>& { return experts ? p.model.expertSchedule : p.model.kSchedule; };

    FieldDef kind = field(FieldDef::Enum, base + ".kind", QObject::tr("Shape"), section,
                          experts ? QObject::tr("How routed experts spread over the MoE blocks (by their order). A block's own "
                                                "expert count wins over the schedule.")
                                  : QObject::tr("How k (experts per token) spreads over the MoE blocks. A router's own k wins."));
    kind.options = QStringList{QStringLiteral("none")} + namesOf<spec::ScheduleKind>();
    kind.get = [csched](const P& p) { return csched(p) ? V(qs(spec::toString(csched(p)->kind))) : V(QStringLiteral("none")); };
    kind.set = [sched, experts](P& p, const V& v) {
        auto& s = sched(p);
        if (v.toString() == QLatin1String("none")) {
            s.reset();
            return;
        }
        const auto k = enumOf(v, spec::ScheduleKind::Uniform);
        const int layers = std::max(1, p.model.moeBlockCount());
        if (!s) {
            s = spec::Schedule{};
            s->min = experts ? 2 : 1;
            s->max = experts ? 8 : 2;
        }
        if (k == spec::ScheduleKind::Explicit && s->kind != spec::ScheduleKind::Explicit)
            s->values = spec::checkSchedule(*s, layers).empty() ? s->counts(layers) : std::vector<int>(static_cast<size_t>(layers), s->max);
        s->kind = k;
    };
    out.push_back(kind);
    const auto& s = csched(proj);
    if (!s) return;
    if (s->kind == spec::ScheduleKind::Explicit) {
        FieldDef values = field(FieldDef::IntList, base + ".values", QObject::tr("Per block"), section,
                                QObject::tr("One count per MoE block, in order, separated by commas"));
        values.get = [csched](const P& p) {
            QStringList l;
            for (int v : csched(p)->values) l << QString::number(v);
            return V(l.join(QStringLiteral(", ")));
        };
        values.set = [sched](P& p, const V& v) {
            std::vector<int> vals;
            for (const auto& x : v.toList()) vals.push_back(x.toInt());
            sched(p)->values = vals;
        };
        out.push_back(values);
        return;
    }
    FieldDef mn = field(FieldDef::Int, base + ".min", QObject::tr("Min"), section, QObject::tr("Smallest count the shape reaches"));
    within(mn, L::kExperts);
    mn.get = [csched](const P& p) { return V(csched(p)->min); };
    mn.set = [sched](P& p, const V& v) { sched(p)->min = v.toInt(); };
    out.push_back(mn);
    FieldDef mx = field(FieldDef::Int, base + ".max", QObject::tr("Max"), section, QObject::tr("Largest count the shape reaches"));
    within(mx, L::kExperts);
    mx.get = [csched](const P& p) { return V(csched(p)->max); };
    mx.set = [sched](P& p, const V& v) { sched(p)->max = v.toInt(); };
    out.push_back(mx);
    if (s->kind == spec::ScheduleKind::Wave) {
        FieldDef per = field(FieldDef::Int, base + ".period", QObject::tr("Period"), section, QObject::tr("MoE blocks per full wave"));
        within(per, L::kSchedulePeriod);
        per.unit = QObject::tr("blocks");
        per.get = [csched](const P& p) { return V(csched(p)->period); };
        per.set = [sched](P& p, const V& v) { sched(p)->period = v.toInt(); };
        out.push_back(per);
    }
}

void modelFields(std::vector<FieldDef>& out, const spec::Project& proj) {
    const QString m = QObject::tr("Model");
    FieldDef name = field(FieldDef::Text, QStringLiteral("model.name"), QObject::tr("Name"), m, QObject::tr("Display name of the network"));
    name.get = [](const P& p) { return V(QString::fromStdString(p.model.name)); };
    name.set = [](P& p, const V& v) { p.model.name = v.toString().toStdString(); };
    out.push_back(name);
    FieldDef desc = field(FieldDef::Text, QStringLiteral("description"), QObject::tr("Description"), m, QObject::tr("What this project shows"));
    desc.get = [](const P& p) { return V(QString::fromStdString(p.description)); };
    desc.set = [](P& p, const V& v) { p.description = v.toString().toStdString(); };
    desc.multiline = true;
    out.push_back(desc);
    scheduleFields(out, proj, true);
    scheduleFields(out, proj, false);

    const QString t = QObject::tr("Training");
    FieldDef batch = field(FieldDef::Int, QStringLiteral("training.batch"), QObject::tr("Batch"), t, QObject::tr("Samples per optimizer step"));
    within(batch, L::kBatch);
    batch.unit = QObject::tr("samples");
    batch.get = [](const P& p) { return V(p.training.batch); };
    batch.set = [](P& p, const V& v) { p.training.batch = v.toInt(); };
    out.push_back(batch);
    FieldDef opt = field(FieldDef::Enum, QStringLiteral("training.optimizer"), QObject::tr("Optimizer"), t, {});
    opt.options = namesOf<spec::OptimizerKind>();
    opt.get = [](const P& p) { return V(qs(spec::toString(p.training.optimizer))); };
    opt.set = [](P& p, const V& v) { p.training.optimizer = enumOf(v, spec::OptimizerKind::Adam); };
    out.push_back(opt);
    FieldDef lr = field(FieldDef::Double, QStringLiteral("training.learning_rate"), QObject::tr("Learning rate"), t,
                        QObject::tr("Step size of the optimizer (1e-9 to 10)"));
    within(lr, L::kLearningRate);
    lr.get = [](const P& p) { return V(p.training.learningRate); };
    lr.set = [](P& p, const V& v) { p.training.learningRate = v.toDouble(); };
    out.push_back(lr);
    FieldDef sched = field(FieldDef::Enum, QStringLiteral("training.lr_schedule"), QObject::tr("Rate schedule"), t,
                           QObject::tr("constant: the rate as set; cosine: from the rate down to zero at the last step"));
    sched.options = namesOf<spec::LrSchedule>();
    sched.advanced = true;
    sched.get = [](const P& p) { return V(qs(spec::toString(p.training.lrSchedule))); };
    sched.set = [](P& p, const V& v) { p.training.lrSchedule = enumOf(v, spec::LrSchedule::Constant); };
    out.push_back(sched);
    FieldDef warm = field(FieldDef::Int, QStringLiteral("training.warmup_steps"), QObject::tr("Warm-up"), t,
                          QObject::tr("Raise the rate linearly from zero over these first steps (0: none)"));
    within(warm, L::kWarmupSteps), warm.unit = QObject::tr("steps"), warm.advanced = true;
    warm.get = [](const P& p) { return V(p.training.warmupSteps); };
    warm.set = [](P& p, const V& v) { p.training.warmupSteps = v.toInt(); };
    out.push_back(warm);
    FieldDef wd = field(FieldDef::Double, QStringLiteral("training.weight_decay"), QObject::tr("Weight decay"), t, QObject::tr("0 to 10"));
    within(wd, L::kWeightDecay), wd.advanced = true;
    wd.get = [](const P& p) { return V(p.training.weightDecay); };
    wd.set = [](P& p, const V& v) { p.training.weightDecay = v.toDouble(); };
    out.push_back(wd);
    if (proj.training.optimizer == spec::OptimizerKind::Sgd) {
        FieldDef mom = field(FieldDef::Double, QStringLiteral("training.momentum"), QObject::tr("Momentum"), t, QObject::tr("SGD momentum, 0 to 0.9999"));
        within(mom, L::kMomentum), mom.advanced = true;
        mom.get = [](const P& p) { return V(p.training.momentum); };
        mom.set = [](P& p, const V& v) { p.training.momentum = v.toDouble(); };
        out.push_back(mom);
    }
    FieldDef by = field(FieldDef::Enum, QStringLiteral("training.length_unit"), QObject::tr("Train for"), t,
                        QObject::tr("Measure the run in optimizer steps or in passes over the training set"));
    by.options = {QStringLiteral("steps"), QStringLiteral("epochs")};
    by.get = [](const P& p) { return V(p.training.epochs ? QStringLiteral("epochs") : QStringLiteral("steps")); };
    by.set = [](P& p, const V& v) {
        if (v.toString() == QLatin1String("epochs") && !p.training.epochs) {
            p.training.steps.reset();
            p.training.epochs = 5;
        } else if (v.toString() == QLatin1String("steps") && !p.training.steps) {
            p.training.epochs.reset();
            p.training.steps = 1000;
        }
    };
    out.push_back(by);
    const bool epochs = proj.training.epochs.has_value();
    FieldDef len = field(FieldDef::Int, epochs ? QStringLiteral("training.epochs") : QStringLiteral("training.steps"), QObject::tr("Length"), t, {});
    within(len, epochs ? L::kEpochs : L::kSteps);
    len.unit = epochs ? QObject::tr("epochs") : QObject::tr("steps");
    len.get = [epochs](const P& p) { return V(epochs ? p.training.epochs.value_or(1) : p.training.steps.value_or(1)); };
    len.set = [epochs](P& p, const V& v) {
        if (epochs) p.training.epochs = v.toInt();
        else p.training.steps = v.toInt();
    };
    out.push_back(len);
    FieldDef seed = field(FieldDef::Int, QStringLiteral("training.seed"), QObject::tr("Seed"), t, QObject::tr("Same seed, same run"));
    within(seed, L::kSeed), seed.advanced = true;
    seed.get = [](const P& p) { return V(static_cast<int>(p.training.seed)); };
    seed.set = [](P& p, const V& v) { p.training.seed = static_cast<unsigned>(v.toInt()); };
    out.push_back(seed);
    FieldDef dev = field(FieldDef::Enum, QStringLiteral("training.device"), QObject::tr("Device"), t,
                         QObject::tr("auto: the first CUDA GPU when this build's LibTorch has CUDA and sees one, else the CPU. "
                                     "cuda:N picks GPU N. The Run panel says where a run trains."));
    dev.options = {QStringLiteral("auto"), QStringLiteral("cpu"), QStringLiteral("cuda")};
    for (int g = 0; g < 8; ++g) dev.options << QStringLiteral("cuda:%1").arg(g);
    if (!dev.options.contains(qs(proj.training.device))) dev.options << qs(proj.training.device);
    dev.advanced = true;
    dev.get = [](const P& p) { return V(qs(p.training.device)); };
    dev.set = [](P& p, const V& v) { p.training.device = v.toString().toStdString(); };
    out.push_back(dev);
    if (proj.model.input.dataset == spec::DatasetKind::FashionMnist) {
        FieldDef flip = field(FieldDef::Bool, QStringLiteral("training.augment.flip"), QObject::tr("Mirror images"), t,
                              QObject::tr("Mirror each training image left to right half the time; held-out images stay as they are"));
        flip.advanced = true;
        flip.get = [](const P& p) { return V(p.training.augment.flip); };
        flip.set = [](P& p, const V& v) { p.training.augment.flip = v.toBool(); };
        out.push_back(flip);
        FieldDef shift = field(FieldDef::Int, QStringLiteral("training.augment.shift"), QObject::tr("Shift images"), t,
                               QObject::tr("Move each training image by up to this many pixels each way, drawn afresh every time (0: never)"));
        within(shift, L::kAugmentShift), shift.unit = QObject::tr("px"), shift.advanced = true;
        shift.get = [](const P& p) { return V(p.training.augment.shift); };
        shift.set = [](P& p, const V& v) { p.training.augment.shift = v.toInt(); };
        out.push_back(shift);
    }
    // The trainable twin: the model keeps its real size (what the planner prices); this trains.
    const QString tw = QObject::tr("Trainable twin");
    FieldDef twin = field(FieldDef::Bool, QStringLiteral("training.twin"), QObject::tr("Train a twin"), tw,
                          QObject::tr("Train a smaller copy of the model here: the same block pattern, routers, experts and k at the "
                                      "width and depth below. The model itself keeps its size for the Cluster planner."));
    twin.get = [](const P& p) { return V(p.training.twin.has_value()); };
    twin.set = [](P& p, const V& v) {
        if (v.toBool() && !p.training.twin) p.training.twin = spec::TwinSpec{};
        if (!v.toBool()) p.training.twin.reset();
    };
    out.push_back(twin);
    if (proj.training.twin) {
        FieldDef w = field(FieldDef::Int, QStringLiteral("training.twin.d_model"), QObject::tr("Twin width"), tw,
                           QObject::tr("d_model of the twin; every other width scales with it"));
        within(w, L::kTwinDModel);
        w.get = [](const P& p) { return V(p.training.twin ? p.training.twin->dModel : 64); };
        w.set = [](P& p, const V& v) {
            if (p.training.twin) p.training.twin->dModel = v.toInt();
        };
        out.push_back(w);
        FieldDef l = field(FieldDef::Int, QStringLiteral("training.twin.layers"), QObject::tr("Twin depth"), tw,
                           QObject::tr("At most this many repeats of each layer group (first-k-dense shrinks in proportion)"));
        within(l, L::kTwinLayers), l.unit = QObject::tr("repeats");
        l.get = [](const P& p) { return V(p.training.twin ? p.training.twin->layers : 4); };
        l.set = [](P& p, const V& v) {
            if (p.training.twin) p.training.twin->layers = v.toInt();
        };
        out.push_back(l);
        FieldDef eh = field(FieldDef::OptInt, QStringLiteral("training.twin.expert_hidden"), QObject::tr("Twin expert width"), tw,
                            QObject::tr("Hidden width of each routed expert of the twin; not set: scaled with the width"));
        within(eh, L::kTwinExpertHidden), eh.specialText = QObject::tr("scaled");
        eh.get = [](const P& p) { return p.training.twin && p.training.twin->expertHidden > 0 ? V(p.training.twin->expertHidden) : V(); };
        eh.set = [](P& p, const V& v) {
            if (p.training.twin) p.training.twin->expertHidden = v.isNull() ? 0 : v.toInt();
        };
        out.push_back(eh);
    }
    FieldDef tel = field(FieldDef::Int, QStringLiteral("training.telemetry_interval"), QObject::tr("Telemetry every"), t,
                         QObject::tr("A routing snapshot (loads, entropy, alerts) every N steps"));
    within(tel, L::kTelemetryInterval), tel.unit = QObject::tr("steps"), tel.advanced = true;
    tel.get = [](const P& p) { return V(p.training.telemetryInterval); };
    tel.set = [](P& p, const V& v) { p.training.telemetryInterval = v.toInt(); };
    out.push_back(tel);
    if (proj.model.input.dataset != spec::DatasetKind::FashionMnist && !proj.model.input.isText()) {
        FieldDef tr = field(FieldDef::Int, QStringLiteral("training.train_samples"), QObject::tr("Train samples"), t, QObject::tr("Synthetic samples generated for training"));
        within(tr, L::kSamples), tr.advanced = true;
        tr.get = [](const P& p) { return V(p.training.trainSamples); };
        tr.set = [](P& p, const V& v) { p.training.trainSamples = v.toInt(); };
        out.push_back(tr);
        FieldDef te = field(FieldDef::Int, QStringLiteral("training.test_samples"), QObject::tr("Test samples"), t, QObject::tr("Held-out samples for test accuracy"));
        within(te, L::kSamples), te.advanced = true;
        te.get = [](const P& p) { return V(p.training.testSamples); };
        te.set = [](P& p, const V& v) { p.training.testSamples = v.toInt(); };
        out.push_back(te);
    }
}

void inputFields(std::vector<FieldDef>& out, const spec::Project& proj) {
    const QString s = QObject::tr("Input");
    const auto& in = proj.model.input;
    FieldDef ds = field(FieldDef::Enum, QStringLiteral("model.input.dataset"), QObject::tr("Dataset"), s,
                        QObject::tr("fashion_mnist: real 28x28 images (10 classes); the others are synthetic 2-D or clustered sets"));
    ds.options = namesOf<spec::DatasetKind>();
    ds.get = [](const P& p) { return V(qs(spec::toString(p.model.input.dataset))); };
    ds.set = [](P& p, const V& v) {
        p.model.input.dataset = enumOf(v, spec::DatasetKind::Blobs);
        if (p.model.input.dataset != spec::DatasetKind::FashionMnist) p.model.input.tokens = spec::TokenMode::Sample;
    };
    out.push_back(ds);
    if (in.dataset == spec::DatasetKind::FashionMnist) {
        FieldDef tok = field(FieldDef::Enum, QStringLiteral("model.input.tokens"), QObject::tr("Tokens"), s,
                             QObject::tr("sample: one token per image; patches: one token per image patch"));
        tok.options = namesOf<spec::TokenMode>();
        tok.get = [](const P& p) { return V(qs(spec::toString(p.model.input.tokens))); };
        tok.set = [](P& p, const V& v) { p.model.input.tokens = enumOf(v, spec::TokenMode::Sample); };
        out.push_back(tok);
        if (in.tokens == spec::TokenMode::Patches) {
            FieldDef patch = field(FieldDef::Int, QStringLiteral("model.input.patch"), QObject::tr("Patch"), s,
                                   QObject::tr("Patch side; must divide 28 (1, 2, 4, 7, 14 or 28)"));
            within(patch, L::kPatch), patch.unit = QObject::tr("px");
            patch.get = [](const P& p) { return V(p.model.input.patch); };
            patch.set = [](P& p, const V& v) { p.model.input.patch = v.toInt(); };
            out.push_back(patch);
        }
    }
    if (in.dataset == spec::DatasetKind::Blobs || in.dataset == spec::DatasetKind::ClusteredTokens) {
        FieldDef cl = field(FieldDef::Int, QStringLiteral("model.input.classes"), QObject::tr("Classes"), s, QObject::tr("Number of blobs / clusters"));
        within(cl, L::kClasses);
        cl.get = [](const P& p) { return V(p.model.input.classes); };
        cl.set = [](P& p, const V& v) { p.model.input.classes = v.toInt(); };
        out.push_back(cl);
    }
    if (in.dataset == spec::DatasetKind::ClusteredTokens) {
        FieldDef d = field(FieldDef::Int, QStringLiteral("model.input.dims"), QObject::tr("Dimensions"), s, QObject::tr("Features per token"));
        within(d, L::kDims);
        d.get = [](const P& p) { return V(p.model.input.dims); };
        d.set = [](P& p, const V& v) { p.model.input.dims = v.toInt(); };
        out.push_back(d);
    }
    if (in.isText()) {
        FieldDef corpus = field(FieldDef::Text, QStringLiteral("model.input.corpus"), QObject::tr("Corpus"), s,
                                QObject::tr("\"fortunes\" (the Debian fortunes package) or a UTF-8 text file, relative to the project file"));
        corpus.get = [](const P& p) { return V(QString::fromStdString(p.model.input.corpus)); };
        corpus.set = [](P& p, const V& v) { p.model.input.corpus = v.toString().toStdString(); };
        out.push_back(corpus);
        FieldDef len = field(FieldDef::Int, QStringLiteral("model.input.seq_len"), QObject::tr("Sequence length"), s,
                             QObject::tr("Bytes per training sequence (the attention context), 2 to 8192"));
        within(len, L::kSeqLen), len.unit = QObject::tr("tokens");
        len.get = [](const P& p) { return V(p.model.input.seqLen); };
        len.set = [](P& p, const V& v) { p.model.input.seqLen = v.toInt(); };
        out.push_back(len);
    }
    if (in.dataset != spec::DatasetKind::FashionMnist && !in.isText()) {
        FieldDef n = field(FieldDef::Double, QStringLiteral("model.input.noise"), QObject::tr("Noise"), s,
                           QObject::tr("Gaussian noise (standard deviation, data units), 0 to 100"));
        within(n, L::kDataNoise);
        n.get = [](const P& p) { return V(p.model.input.noise); };
        n.set = [](P& p, const V& v) { p.model.input.noise = v.toDouble(); };
        out.push_back(n);
    }
}

void stemFields(std::vector<FieldDef>& out, const spec::Project& proj) {
    const QString st = QObject::tr("Stem");
    const bool embedding = proj.model.stem.kind == spec::StemKind::Embedding;
    FieldDef k = field(FieldDef::Enum, QStringLiteral("model.stem.kind"), QObject::tr("Kind"), st,
                       QObject::tr("linear: project each token's features (MLP, image patches); embedding: a token table (text)"));
    k.options = namesOf<spec::StemKind>();
    k.get = [](const P& q) { return V(qs(spec::toString(q.model.stem.kind))); };
    k.set = [](P& q, const V& v) {
        q.model.stem.kind = enumOf(v, spec::StemKind::Linear);
        if (q.model.stem.kind == spec::StemKind::Linear) q.model.head.tied = false;  // a tie needs the table
    };
    out.push_back(k);
    FieldDef d = field(FieldDef::Int, QStringLiteral("model.stem.d_model"), QObject::tr("Model width"), st,
                       QObject::tr("d_model: the width of the residual stream every block reads and writes"));
    within(d, L::kWidth);
    d.get = [](const P& q) { return V(q.model.stem.dModel); };
    d.set = [](P& q, const V& v) { q.model.stem.dModel = v.toInt(); };
    out.push_back(d);
    if (embedding) {
        FieldDef vocab = field(FieldDef::Int, QStringLiteral("model.stem.vocab"), QObject::tr("Vocabulary"), st,
                               QObject::tr("Rows of the token table (256 for byte-level text)"));
        within(vocab, L::kVocab), vocab.unit = QObject::tr("tokens");
        vocab.get = [](const P& q) { return V(q.model.stem.vocab); };
        vocab.set = [](P& q, const V& v) { q.model.stem.vocab = v.toInt(); };
        out.push_back(vocab);
    } else {
        FieldDef a = field(FieldDef::Enum, QStringLiteral("model.stem.activation"), QObject::tr("Activation"), st, {});
        for (auto n : spec::allNames<spec::Activation>())
            if (!spec::isGated(*spec::parseEnum<spec::Activation>(n))) a.options << qs(n);
        a.get = [](const P& q) { return V(qs(spec::toString(q.model.stem.activation))); };
        a.set = [](P& q, const V& v) { q.model.stem.activation = enumOf(v, spec::Activation::Gelu); };
        out.push_back(a);
    }
    FieldDef pos = field(FieldDef::Enum, QStringLiteral("model.stem.positions"), QObject::tr("Positions"), st,
                         QObject::tr("none; learned: a table added after the stem; rope: rotary positions inside every attention"));
    pos.options = namesOf<spec::PositionKind>();
    pos.get = [](const P& q) { return V(qs(spec::toString(q.model.stem.positions))); };
    pos.set = [](P& q, const V& v) { q.model.stem.positions = enumOf(v, spec::PositionKind::None); };
    out.push_back(pos);
    if (proj.model.stem.positions == spec::PositionKind::Rope) {
        FieldDef th = field(FieldDef::Double, QStringLiteral("model.stem.rope_theta"), QObject::tr("RoPE θ"), st,
                            QObject::tr("Base of the rotary frequencies (10000 in most models; larger for long contexts), 1 to 1e9"));
        within(th, L::kRopeTheta);
        th.get = [](const P& q) { return V(q.model.stem.ropeTheta); };
        th.set = [](P& q, const V& v) { q.model.stem.ropeTheta = v.toDouble(); };
        out.push_back(th);
    }
}

}  // namespace

std::vector<FieldDef> fieldsFor(const ProjectDocument& doc, const ItemRef& item) {
    std::vector<FieldDef> out;
    const spec::Project& p = doc.project();
    switch (item.kind) {
        case ItemRef::Model: modelFields(out, p); break;
        case ItemRef::Input: inputFields(out, p); break;
        case ItemRef::Stem: stemFields(out, p); break;
        case ItemRef::Head: {
            FieldDef n = field(FieldDef::Enum, QStringLiteral("model.head.norm"), QObject::tr("Norm"), QObject::tr("Head"),
                               QObject::tr("Normalisation before the classifier"));
            n.options = namesOf<spec::NormKind>();
            n.get = [](const P& q) { return V(qs(spec::toString(q.model.head.norm))); };
            n.set = [](P& q, const V& v) { q.model.head.norm = enumOf(v, spec::NormKind::LayerNorm); };
            out.push_back(n);
            if (p.model.stem.kind == spec::StemKind::Embedding) {
                FieldDef t = field(FieldDef::Bool, QStringLiteral("model.head.tied"), QObject::tr("Tied"), QObject::tr("Head"),
                                   QObject::tr("The LM head reuses the embedding table (fewer parameters; GPT-2, OLMoE)"));
                t.get = [](const P& q) { return V(q.model.head.tied); };
                t.set = [](P& q, const V& v) { q.model.head.tied = v.toBool(); };
                out.push_back(t);
            }
            break;
        }
        case ItemRef::Block:
            if (int i = doc.indexOf(item.block); i >= 0) blockFields(out, p, i, item.child);
            break;
        case ItemRef::None: break;
    }
    return out;
}

}  // namespace moe::studio
