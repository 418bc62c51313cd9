#include "format.h"

#include <QObject>

#include <cmath>

#include "moe/spec/derived.h"

namespace moe::studio {

QString humanCount(double v) {
    const double a = std::abs(v);
    if (a >= 1e12) return QString::number(v / 1e12, 'f', 2) + QStringLiteral("T");
    if (a >= 1e9) return QString::number(v / 1e9, 'f', 2) + QStringLiteral("G");
    if (a >= 1e6) return QString::number(v / 1e6, 'f', 2) + QStringLiteral("M");
    if (a >= 1e4) return QString::number(v / 1e3, 'f', 1) + QStringLiteral("k");
    if (a >= 1e3) return QString::number(v / 1e3, 'f', 2) + QStringLiteral("k");
    if (a == std::floor(a)) return QString::number(static_cast<long long>(v));
    return QString::number(v, 'g', 3);
}

QString humanBytes(double bytes) { return QString::fromStdString(moe::spec::humanBytes(bytes)); }

QString routerKindName(moe::spec::RouterKind k) {
    using moe::spec::RouterKind;
    switch (k) {
        case RouterKind::TopK: return QObject::tr("top-k");
        case RouterKind::ExpertChoice: return QObject::tr("expert choice");
        case RouterKind::Dynamic: return QObject::tr("dynamic (top-p)");
        case RouterKind::Unified: return QObject::tr("unified");
        case RouterKind::Hash: return QObject::tr("hash");
        case RouterKind::Sinkhorn: return QObject::tr("Sinkhorn");
        case RouterKind::SigmoidBias: return QObject::tr("sigmoid + bias");
    }
    return qs(moe::spec::toString(k));
}

QString humanDuration(double seconds) {
    if (seconds < 0 || !std::isfinite(seconds)) return QStringLiteral("–");
    const long long s = std::llround(seconds);
    if (s < 60) return QStringLiteral("%1 s").arg(s);
    if (s < 3600) return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
}

}  // namespace moe::studio
