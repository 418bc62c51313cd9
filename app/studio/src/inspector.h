#pragma once
// The inspector: every field of the selected item with a typed editor. Each change is checked
// by reading the edited project back through core/spec; a rejected value stays in the editor,
// outlined, with the reader's reason under it. Cross-field problems show under their field.

#include <QList>
#include <QWidget>

#include <vector>

#include "document.h"
#include "fields.h"

class QLabel;
class QScrollArea;
class QVBoxLayout;

namespace moe::studio {

class Inspector : public QWidget {
    Q_OBJECT
public:
    explicit Inspector(ProjectDocument* doc, QWidget* parent = nullptr);

    void setSelection(const QList<ItemRef>& refs);
    void setClassroom(bool on);
    void setLocked(bool locked, const QString& why);  // while training: look, don't touch

    // For tests and the messages panel.
    QWidget* editorFor(const QString& path) const;
    QString messageFor(const QString& path) const;
    QString figuresText() const;
    QStringList paths() const;

Q_SIGNALS:
    void status(const QString& text);

private:
    struct Row {
        FieldDef def;
        QWidget* editor = nullptr;
        QLabel* message = nullptr;
        QWidget* row = nullptr;
        QWidget* labelWidget = nullptr;
        QString inputError;
    };

    void rebuild();
    void refresh();
    void commit(size_t row, const QVariant& value);
    void setInputError(size_t row, const QString& error);
    QWidget* makeEditor(size_t row);
    void updateFigures();
    void updateMessage(Row& r);

    ProjectDocument* m_doc;
    QList<ItemRef> m_selection;
    bool m_classroom = false;
    bool m_locked = false;
    QString m_signature;
    QScrollArea* m_scroll = nullptr;
    QLabel* m_title = nullptr;
    QLabel* m_itemProblems = nullptr;
    QLabel* m_figures = nullptr;
    QLabel* m_lockNote = nullptr;
    std::vector<Row> m_rows;
};

}  // namespace moe::studio
