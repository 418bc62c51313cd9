#pragma once
// The inspector's field table: for each kind of item, every field of the project with its JSON
// path (the one core/spec names in its diagnostics), editor type, range and help. Ranges mirror
// the project reader's; the reader stays the judge, since every edit is read back through it.

#include <QString>
#include <QStringList>
#include <QVariant>

#include <functional>
#include <vector>

#include "document.h"

namespace moe::studio {

struct FieldDef {
    enum Type { Int, OptInt, Double, Bool, Enum, Text, IntList };
    Type type = Int;
    QString path;            // "model.blocks[2].router.k"
    QString label;
    QString help;            // tooltip: meaning, unit, effect
    QString section;         // group box title
    QString unit;            // shown after the editor
    double lo = 0, hi = 0;   // Int, OptInt, Double
    QString specialText;     // OptInt: text for "not set" (lo - 1)
    QStringList options;     // Enum: the values as the file writes them
    QStringList optionLabels;  // Enum: what the list shows for each (empty: the values themselves)
    bool advanced = false;   // hidden in classroom mode
    bool multiline = false;  // Text: a paragraph editor (the project's description)
    std::function<QVariant(const moe::spec::Project&)> get;
    std::function<void(moe::spec::Project&, const QVariant&)> set;
};

// Fields of one item for the project as it is now (a router shows only its own parameters).
std::vector<FieldDef> fieldsFor(const ProjectDocument& doc, const ItemRef& item);

}  // namespace moe::studio
