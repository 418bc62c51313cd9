#pragma once
// Helpers shared by the field tables (fields.cpp, fields_block.cpp).
#include <QObject>

#include <functional>

#include "fields.h"
#include "format.h"
#include "moe/spec/limits.h"
#include "moe/spec/names.h"

namespace moe::studio::detail {

namespace L = moe::spec::limits;

// A field's bounds are the range the project reader and validation keep to.
inline void within(FieldDef& f, moe::spec::IntRange r) { f.lo = r.lo, f.hi = r.hi; }
inline void within(FieldDef& f, moe::spec::RealRange r) { f.lo = r.lo, f.hi = r.hi; }

template <class E>
QStringList namesOf() {
    QStringList l;
    for (auto n : moe::spec::allNames<E>()) l << qs(n);
    return l;
}

template <class E>
E enumOf(const QVariant& v, E fallback) {
    auto e = moe::spec::parseEnum<E>(v.toString().toStdString());
    return e ? *e : fallback;
}

inline FieldDef field(FieldDef::Type t, QString path, QString label, QString section, QString help) {
    FieldDef f;
    f.type = t;
    f.path = std::move(path);
    f.label = std::move(label);
    f.section = std::move(section);
    f.help = std::move(help);
    return f;
}

// Fields of block `block`, or of its child `child` when it is a layer group's (child >= 0).
void blockFields(std::vector<FieldDef>& out, const moe::spec::Project& proj, int block, int child = -1);

}  // namespace moe::studio::detail
