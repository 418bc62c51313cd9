#pragma once
// The studio's model of an open project: a controller over moe::spec::Project. Views (canvas,
// inspector, messages) read it and send edits; every edit is an undo command that swaps whole
// document states, so undo never depends on what a view looked like.

#include <QObject>
#include <QString>
#include <QUndoStack>

#include <functional>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"

namespace moe::studio {

using BlockId = quint64;

// What a view can point at: the fixed parts of the graph, one block (by id), one child of a
// layer group (the group's id and the child's index), or the model as a whole (name,
// schedules, training).
struct ItemRef {
    enum Kind { None, Model, Input, Stem, Block, Head };
    Kind kind = None;
    BlockId block = 0;
    int child = -1;  // Block of kind group: index in its children; -1: the block itself
    bool operator==(const ItemRef& o) const { return kind == o.kind && block == o.block && child == o.child; }
    bool operator!=(const ItemRef& o) const { return !(*this == o); }
};

struct DocState {
    moe::spec::Project project;
    std::vector<BlockId> blockIds;  // parallel to project.model.blocks; stable across reorders
};

// A problem found by core/spec, with the item it concerns.
struct Problem {
    moe::spec::Diagnostic diagnostic;
    ItemRef item;
};

class ProjectDocument : public QObject {
    Q_OBJECT
public:
    explicit ProjectDocument(QObject* parent = nullptr);
    ~ProjectDocument() override;

    const moe::spec::Project& project() const { return m_state.project; }
    const DocState& state() const { return m_state; }
    const std::vector<BlockId>& blockIds() const { return m_state.blockIds; }
    int indexOf(BlockId id) const;  // -1 when absent
    BlockId idAt(int index) const;
    QUndoStack* undoStack() { return &m_undo; }

    QString filePath() const { return m_path; }
    QString displayName() const;
    bool isModified() const { return !m_undo.isClean(); }

    // Everything core/spec finds wrong with the current project (validateProject).
    const std::vector<Problem>& problems() const { return m_problems; }
    std::vector<Problem> problemsFor(const ItemRef& item) const;
    // The item a JSON path such as "model.blocks[3].router.k" concerns.
    ItemRef itemForPath(const std::string& path) const;
    // JSON path prefix of an item ("model.blocks[2]", "model.input", ...).
    std::string pathOf(const ItemRef& item) const;

    // ---- edits (each one undoable) ----------------------------------------------------------
    using Mutation = std::function<void(moe::spec::Project&)>;
    // Checks a mutation against the limits of a project file (moe::spec::validateLimits, the
    // ranges and names the reader keeps to): returns an empty string when the edited project
    // saves and reopens, or the message the reader would give (for the field at `path` first).
    // Cross-field problems (k above the expert count) do not block an edit: they show as problems.
    QString checkEdit(const Mutation& m, const QString& path = {}) const;
    // Applies a mutation when checkEdit passes. `mergeKey` (the field's path) lets consecutive
    // edits of one field merge into one undo step (typing digits). Returns checkEdit's message.
    QString edit(const QString& text, const Mutation& m, const QString& mergeKey = {});
    // Scenario-style edits ({"model.blocks[*].losses.aux": 0.0}) through moe::spec::applyEdits.
    QString applyJsonEdits(const nlohmann::ordered_json& edits, const QString& text);
    // A classroom scenario's edits: an overlay over the project as opened, off the undo stack, so
    // the project is not marked modified and a scenario never asks to be saved over its file.
    QString applyScenarioEdits(const nlohmann::ordered_json& edits);
    bool hasScenarioOverlay() const { return m_scenarioBase.has_value(); }
    // Back to the project as it was before the first scenario edit (no-op without an overlay).
    void resetScenario();

    BlockId insertBlock(int index, const moe::spec::BlockSpec& block, const QString& text = {});
    void removeBlocks(const std::vector<BlockId>& ids);
    std::vector<BlockId> duplicateBlocks(const std::vector<BlockId>& ids);
    void moveBlock(BlockId id, int newIndex);

    // ---- files -------------------------------------------------------------------------------
    void newProject();
    // Loads a file; on failure the document is untouched and `error` holds the loader's message.
    bool open(const QString& path, QString* error);
    bool save(const QString& path, QString* error);
    // Replaces the content with a project that was not read from `path` (recovery); stays modified.
    void adopt(const moe::spec::Project& project, const QString& path);

    // While training: edits are refused with `reason` (the trainer works on its own copy, but the
    // canvas maps its telemetry onto blocks by position).
    void setReadOnly(bool readOnly, const QString& reason = {});
    bool readOnly() const { return m_readOnly; }

    // Used by the undo commands.
    void setState(const DocState& s);

    static moe::spec::Project defaultProject();
    static moe::spec::BlockSpec defaultMoeBlock();
    static moe::spec::BlockSpec defaultDenseBlock();

Q_SIGNALS:
    void changed();            // content changed (edit, undo, redo, load)
    void fileChanged();        // path or modified flag changed
    void reset();              // a different project was loaded or created

private:
    void pushState(const QString& text, DocState next, const QString& mergeKey = {});
    void replaceAll(const moe::spec::Project& p, const QString& path);
    void revalidate();
    BlockId nextId() { return ++m_lastId; }

    DocState m_state;
    std::vector<Problem> m_problems;
    QUndoStack m_undo;
    QString m_path;
    BlockId m_lastId = 0;
    bool m_readOnly = false;
    QString m_readOnlyReason;
    std::optional<DocState> m_scenarioBase;  // the project before the scenario overlay
};

}  // namespace moe::studio
