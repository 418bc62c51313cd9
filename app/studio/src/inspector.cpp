#include "inspector.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QFontMetricsF>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cmath>
#include <map>

#include "format.h"
#include "moe/spec/derived.h"
#include "theme.h"

namespace moe::studio {
namespace spec = moe::spec;

namespace {

QString doubleText(double v) { return QString::number(v, 'g', 6); }

bool parseDouble(const QString& text, double* out) {
    bool ok = false;
    const double v = QLocale::c().toDouble(text.trimmed(), &ok);
    if (!ok || !std::isfinite(v)) return false;
    *out = v;
    return true;
}

QString itemTitle(const ProjectDocument& doc, const ItemRef& r) {
    switch (r.kind) {
        case ItemRef::Model: return QObject::tr("Model and training");
        case ItemRef::Input: return QObject::tr("Input");
        case ItemRef::Stem: return QObject::tr("Stem");
        case ItemRef::Head: return QObject::tr("Head");
        case ItemRef::Block: {
            const int i = doc.indexOf(r.block);
            if (i < 0) return {};
            const auto& top = doc.project().model.blocks[static_cast<size_t>(i)];
            if (r.child >= static_cast<int>(top.children.size())) return {};
            const auto& b = r.child >= 0 ? top.children[static_cast<size_t>(r.child)] : top;
            QString kind;
            switch (b.kind) {
                case spec::BlockKind::Moe: kind = QObject::tr("MoE"); break;
                case spec::BlockKind::Dense: kind = QObject::tr("dense"); break;
                case spec::BlockKind::Attention: kind = QObject::tr("attention"); break;
                case spec::BlockKind::Group: kind = QObject::tr("layer group ×%1").arg(b.repeat); break;
            }
            if (r.child >= 0) return QObject::tr("Block %1.%2 · %3 (in group, ×%4)").arg(i).arg(r.child).arg(kind).arg(top.repeat);
            return QObject::tr("Block %1 · %2").arg(i).arg(kind);
        }
        case ItemRef::None: break;
    }
    return {};
}

}  // namespace

Inspector::Inspector(ProjectDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    m_scroll = new QScrollArea(this);
    m_scroll->setWidgetResizable(true);
    m_scroll->setFrameShape(QFrame::NoFrame);
    outer->addWidget(m_scroll);
    connect(doc, &ProjectDocument::changed, this, &Inspector::refresh);
    m_selection = {ItemRef{ItemRef::Model, 0}};
    rebuild();
}

void Inspector::setSelection(const QList<ItemRef>& refs) {
    m_selection = refs.isEmpty() ? QList<ItemRef>{ItemRef{ItemRef::Model, 0}} : refs;
    refresh();
}

void Inspector::setClassroom(bool on) {
    m_classroom = on;
    m_signature.clear();
    refresh();
}

void Inspector::setLocked(bool locked, const QString& why) {
    if (m_locked == locked) return;
    m_locked = locked;
    m_signature.clear();
    refresh();
    if (m_lockNote) {
        m_lockNote->setText(why);
        m_lockNote->setVisible(locked);
    }
}

void Inspector::refresh() {
    // Rebuild only when the set of fields changes, so typing keeps its editor and focus.
    QString sig = QString::number(m_classroom) + QString::number(m_locked);
    for (const auto& r : m_selection) sig += QStringLiteral("|%1/%2/%3").arg(r.kind).arg(r.block).arg(r.child);
    if (m_selection.size() == 1)
        for (const auto& f : fieldsFor(*m_doc, m_selection.front())) sig += QLatin1Char(';') + f.path;
    if (sig != m_signature) {
        m_signature = sig;
        rebuild();
        return;
    }
    for (auto& r : m_rows) {
        if (!r.inputError.isEmpty() || (r.editor && r.editor->hasFocus())) {
            updateMessage(r);
            continue;
        }
        const QVariant v = r.def.get(m_doc->project());
        const QSignalBlocker block(r.editor);
        switch (r.def.type) {
            case FieldDef::Int: static_cast<QSpinBox*>(r.editor)->setValue(v.toInt()); break;
            case FieldDef::OptInt: {
                auto* sb = static_cast<QSpinBox*>(r.editor);
                sb->setValue(v.isNull() ? sb->minimum() : v.toInt());
                break;
            }
            case FieldDef::Double: static_cast<QLineEdit*>(r.editor)->setText(doubleText(v.toDouble())); break;
            case FieldDef::Bool: static_cast<QCheckBox*>(r.editor)->setChecked(v.toBool()); break;
            case FieldDef::Enum: {
                auto* co = static_cast<QComboBox*>(r.editor);
                co->setCurrentIndex(co->findData(v.toString()));
                break;
            }
            case FieldDef::Text:
                if (auto* te = qobject_cast<QPlainTextEdit*>(r.editor)) {
                    if (te->toPlainText() != v.toString()) te->setPlainText(v.toString());
                    break;
                }
                static_cast<QLineEdit*>(r.editor)->setText(v.toString());
                break;
            case FieldDef::IntList: static_cast<QLineEdit*>(r.editor)->setText(v.toString()); break;
        }
        updateMessage(r);
    }
    updateFigures();
}

void Inspector::rebuild() {
    m_rows.clear();
    // The old page may be the sender of the edit that led here: delete it later.
    if (QWidget* old = m_scroll->takeWidget()) old->deleteLater();
    auto* page = new QWidget;
    auto* v = new QVBoxLayout(page);
    v->setContentsMargins(10, 8, 10, 8);
    v->setSpacing(8);

    m_title = new QLabel(page);
    QFont tf = m_title->font();
    tf.setBold(true);
    tf.setPointSizeF(tf.pointSizeF() * 1.25);
    m_title->setFont(tf);
    v->addWidget(m_title);

    m_lockNote = new QLabel(page);
    m_lockNote->setWordWrap(true);
    m_lockNote->setStyleSheet(QStringLiteral("QLabel { background: palette(alternate-base); border-radius: 4px; padding: 6px; }"));
    m_lockNote->setText(tr("Training is running: pause or stop it to edit the model."));
    m_lockNote->setVisible(m_locked);
    v->addWidget(m_lockNote);

    m_itemProblems = new QLabel(page);
    m_itemProblems->setWordWrap(true);
    m_itemProblems->setTextFormat(Qt::RichText);
    v->addWidget(m_itemProblems);

    auto* figBox = new QGroupBox(tr("Figures"), page);
    auto* fl = new QVBoxLayout(figBox);
    m_figures = new QLabel(figBox);
    m_figures->setTextFormat(Qt::RichText);
    m_figures->setTextInteractionFlags(Qt::TextSelectableByMouse);
    fl->addWidget(m_figures);

    if (m_selection.size() == 1) {
        m_title->setText(itemTitle(*m_doc, m_selection.front()));
        std::map<QString, QFormLayout*> sections;
        std::vector<QString> order;
        for (auto& f : fieldsFor(*m_doc, m_selection.front())) {
            if (m_classroom && f.advanced) continue;
            m_rows.push_back(Row{std::move(f)});
        }
        for (size_t i = 0; i < m_rows.size(); ++i) {
            Row& r = m_rows[i];
            QFormLayout*& form = sections[r.def.section];
            if (!form) {
                auto* box = new QGroupBox(r.def.section, page);
                form = new QFormLayout(box);
                form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
                form->setLabelAlignment(Qt::AlignRight | Qt::AlignVCenter);
                v->addWidget(box);
            }
            auto* cell = new QWidget(page);
            auto* cv = new QVBoxLayout(cell);
            cv->setContentsMargins(0, 0, 0, 0);
            cv->setSpacing(2);
            auto* line = new QHBoxLayout;
            line->setSpacing(6);
            r.editor = makeEditor(i);
            r.editor->setToolTip(r.def.help + QStringLiteral("\n") + r.def.path);
            r.editor->setEnabled(!m_locked);
            r.editor->setObjectName(r.def.path);
            line->addWidget(r.editor, 1);
            if (!r.def.unit.isEmpty()) {
                auto* unit = new QLabel(r.def.unit, cell);
                unit->setForegroundRole(QPalette::PlaceholderText);
                line->addWidget(unit);
            }
            cv->addLayout(line);
            r.message = new QLabel(cell);
            r.message->setWordWrap(true);
            r.message->hide();
            cv->addWidget(r.message);
            r.row = cell;
            auto* label = new QLabel(r.def.label, page);
            label->setToolTip(r.def.help);
            r.labelWidget = label;
            form->addRow(label, cell);
        }
    } else {
        m_title->setText(tr("%1 items selected").arg(m_selection.size()));
        auto* hint = new QLabel(tr("Select a single item to edit its fields. Delete and Duplicate act on all of them."), page);
        hint->setWordWrap(true);
        v->addWidget(hint);
    }
    v->addWidget(figBox);
    v->addStretch(1);
    m_scroll->setWidget(page);
    refresh();
}

QWidget* Inspector::makeEditor(size_t i) {
    const FieldDef& d = m_rows[i].def;
    const QVariant v = d.get(m_doc->project());
    switch (d.type) {
        case FieldDef::Int:
        case FieldDef::OptInt: {
            auto* sb = new QSpinBox;
            const bool opt = d.type == FieldDef::OptInt;
            sb->setRange(static_cast<int>(d.lo) - (opt ? 1 : 0), static_cast<int>(d.hi));
            if (opt) sb->setSpecialValueText(d.specialText);
            sb->setValue(v.isNull() ? sb->minimum() : v.toInt());
            sb->setKeyboardTracking(true);
            sb->setAccelerated(true);
            connect(sb, &QSpinBox::valueChanged, this, [this, i, sb, opt](int value) {
                commit(i, opt && value == sb->minimum() ? QVariant() : QVariant(value));
            });
            return sb;
        }
        case FieldDef::Double: {
            auto* le = new QLineEdit(doubleText(v.toDouble()));
            le->setPlaceholderText(QStringLiteral("%1 – %2").arg(d.lo).arg(d.hi));
            connect(le, &QLineEdit::textEdited, this, [this, i](const QString& text) {
                double x = 0;
                if (!parseDouble(text, &x)) return setInputError(i, tr("\"%1\" is not a number (use a dot for decimals, e.g. 0.01 or 1e-3)").arg(text));
                commit(i, x);
            });
            return le;
        }
        case FieldDef::Bool: {
            auto* cb = new QCheckBox;
            cb->setChecked(v.toBool());
            connect(cb, &QCheckBox::toggled, this, [this, i](bool on) { commit(i, on); });
            return cb;
        }
        case FieldDef::Enum: {
            auto* co = new QComboBox;
            // The list shows plain words ("sigmoid + bias"); the value is the file's ("sigmoid_bias").
            for (int k = 0; k < d.options.size(); ++k)
                co->addItem(k < d.optionLabels.size() ? d.optionLabels[k] : d.options[k], d.options[k]);
            co->setCurrentIndex(co->findData(v.toString()));
            connect(co, &QComboBox::activated, this, [this, i, co](int) { commit(i, co->currentData().toString()); });
            return co;
        }
        case FieldDef::Text: {
            if (d.multiline) {
                // A paragraph: wraps in the dock's width, grows to a few lines, scrolls past that.
                auto* te = new QPlainTextEdit(v.toString());
                te->setLineWrapMode(QPlainTextEdit::WidgetWidth);
                te->setTabChangesFocus(true);
                te->setFixedHeight(static_cast<int>(QFontMetricsF(te->font()).lineSpacing() * 4 + 12));
                connect(te, &QPlainTextEdit::textChanged, this, [this, i, te] { commit(i, te->toPlainText()); });
                return te;
            }
            auto* le = new QLineEdit(v.toString());
            connect(le, &QLineEdit::textEdited, this, [this, i](const QString& text) { commit(i, text); });
            return le;
        }
        case FieldDef::IntList: {
            auto* le = new QLineEdit(v.toString());
            le->setPlaceholderText(tr("e.g. 8, 8, 4, 4"));
            connect(le, &QLineEdit::textEdited, this, [this, i](const QString& text) {
                QVariantList values;
                for (const QString& part : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
                    bool ok = false;
                    const int x = part.trimmed().toInt(&ok);
                    if (!ok) return setInputError(i, tr("\"%1\" is not a whole number; write counts separated by commas").arg(part.trimmed()));
                    values << x;
                }
                commit(i, values);
            });
            return le;
        }
    }
    return new QWidget;
}

void Inspector::commit(size_t i, const QVariant& value) {
    if (i >= m_rows.size()) return;
    const FieldDef def = m_rows[i].def;  // the edit may rebuild the rows
    const QString signature = m_signature;
    const QString why = m_doc->edit(tr("Set %1").arg(def.label.toLower()), [set = def.set, value](spec::Project& p) { set(p, value); }, def.path);
    if (signature != m_signature) return;  // rebuilt: the new rows show the new value
    setInputError(i, why);
    if (why.isEmpty()) Q_EMIT status(tr("%1 = %2").arg(def.label, value.toString()));
}

void Inspector::setInputError(size_t i, const QString& error) {
    if (i >= m_rows.size()) return;
    Row& r = m_rows[i];
    r.inputError = error;
    r.editor->setProperty("invalid", !error.isEmpty());
    const QColor bad = canvasColors().cardInvalid;
    r.editor->setStyleSheet(error.isEmpty() ? QString() : QStringLiteral("border: 2px solid %1; border-radius: 3px;").arg(bad.name()));
    updateMessage(r);
}

void Inspector::updateMessage(Row& r) {
    QString text;
    QString color;
    if (!r.inputError.isEmpty()) {
        text = tr("Not applied: %1").arg(r.inputError);
        color = canvasColors().cardInvalid.name();
    } else {
        QStringList probs;
        for (const auto& p : m_doc->problems())
            if (QString::fromStdString(p.diagnostic.path) == r.def.path) probs << QString::fromStdString(p.diagnostic.message);
        text = probs.join(QStringLiteral("\n"));
        color = QStringLiteral("#d97706");
    }
    r.message->setText(text);
    r.message->setStyleSheet(QStringLiteral("color: %1;").arg(color));
    r.message->setVisible(!text.isEmpty());
}

void Inspector::updateFigures() {
    if (!m_figures) return;
    const auto& m = m_doc->project().model;
    // Figures are per layer of the flattened model; an authored item sums the layers it makes.
    const spec::ModelSpec flat = m.flattened();
    const auto origins = m.layerOrigins();
    const spec::ModelFigures f = spec::computeFigures(flat);
    const int seqLen = m.input.tokensPerSample();
    QString html = QStringLiteral("<table cellspacing=2>");
    auto row = [&html](const QString& k, const QString& v) { html += QStringLiteral("<tr><td>%1</td><td align=right><b>%2</b></td></tr>").arg(k, v); };
    int items = 0, layers = 0;
    double params = 0, active = 0, flops = 0, kv = 0;
    const spec::BlockFigures* single = nullptr;
    for (const auto& r : m_selection) {
        const int i = r.kind == ItemRef::Block ? m_doc->indexOf(r.block) : -1;
        if (i < 0) continue;
        ++items;
        for (size_t l = 0; l < origins.size() && l < f.blocks.size(); ++l) {
            if (origins[l].block != i || (r.child >= 0 && origins[l].child != r.child)) continue;
            const auto& bf = f.blocks[l];
            ++layers;
            params += static_cast<double>(bf.params);
            active += bf.activeParams;
            flops += bf.flopsPerToken;
            kv += static_cast<double>(bf.kvCachePerToken);
            if (flat.blocks[l].kind == spec::BlockKind::Moe && !single) single = &bf;
        }
    }
    // The stem and head have figures of their own (not the whole model's).
    if (m_selection.size() == 1 && (m_selection.front().kind == ItemRef::Stem || m_selection.front().kind == ItemRef::Head)) {
        const bool stem = m_selection.front().kind == ItemRef::Stem;
        const double own = static_cast<double>(stem ? f.stemParams : f.headParams);
        html += QStringLiteral("<tr><td colspan=2><i>%1</i></td></tr>").arg(stem ? tr("This stem") : tr("This head"));
        row(tr("Parameters"), humanCount(own));
        if (!stem && m.head.tied) row(tr("Shared with the embedding"), tr("yes (tied)"));
        if (f.params > 0) row(tr("Share of the model"), QStringLiteral("%1%").arg(100.0 * own / static_cast<double>(f.params), 0, 'f', 1));
        row(tr("Weights (fp32)"), humanBytes(own * 4));
    }
    if (items > 0) {
        if (m_selection.size() == 1 && single) {
            row(tr("Routed experts"), QString::number(single->experts + single->zeroExperts));
            row(tr("Experts per token"), QString::number(single->k, 'g', 3));
        }
        const QString what = items == 1 ? (layers > 1 ? tr("This item (%1 layers)").arg(layers) : tr("This block")) : tr("These %1 blocks").arg(items);
        html += QStringLiteral("<tr><td colspan=2><i>%1</i></td></tr>").arg(what);
        row(tr("Parameters"), humanCount(params));
        row(tr("Active per token"), humanCount(active));
        row(tr("FLOPs per token"), humanCount(flops));
        if (kv > 0) row(tr("KV cache per token (bf16)"), humanBytes(kv * spec::bytesPerElement("bf16")));
    }
    html += QStringLiteral("<tr><td colspan=2><i>%1</i></td></tr>").arg(tr("Whole model (%1 layers)").arg(flat.blocks.size()));
    row(tr("Parameters"), humanCount(static_cast<double>(f.params)));
    row(tr("Active per token"), humanCount(f.activeParams));
    row(seqLen > 1 ? tr("FLOPs per token (%1 tokens)").arg(seqLen) : tr("FLOPs per token"), humanCount(f.flopsPerToken));
    if (f.kvCachePerToken > 0) row(tr("KV cache per token (bf16)"), humanBytes(f.kvCacheBytesPerToken("bf16")));
    row(tr("Weights (fp32)"), humanBytes(static_cast<double>(f.params) * 4));
    html += QStringLiteral("</table>");
    m_figures->setText(html);

    // Problems of the item that no field shows.
    if (m_selection.size() == 1) {
        QStringList lines;
        for (const auto& p : m_doc->problemsFor(m_selection.front())) {
            const QString path = QString::fromStdString(p.diagnostic.path);
            const bool shownByField = std::any_of(m_rows.begin(), m_rows.end(), [&](const Row& r) { return r.def.path == path; });
            if (!shownByField) lines << QStringLiteral("• <b>%1</b>: %2").arg(path.toHtmlEscaped(), QString::fromStdString(p.diagnostic.message).toHtmlEscaped());
        }
        m_itemProblems->setText(lines.join(QStringLiteral("<br>")));
        m_itemProblems->setStyleSheet(QStringLiteral("color: %1;").arg(canvasColors().cardInvalid.name()));
        m_itemProblems->setVisible(!lines.isEmpty());
    } else m_itemProblems->hide();
}

QWidget* Inspector::editorFor(const QString& path) const {
    for (const auto& r : m_rows)
        if (r.def.path == path) return r.editor;
    return nullptr;
}

QString Inspector::messageFor(const QString& path) const {
    for (const auto& r : m_rows)
        if (r.def.path == path) return r.message->isVisibleTo(r.row) ? r.message->text() : QString();
    return {};
}

QString Inspector::figuresText() const { return m_figures ? m_figures->text() : QString(); }

QStringList Inspector::paths() const {
    QStringList l;
    for (const auto& r : m_rows) l << r.def.path;
    return l;
}

}  // namespace moe::studio
