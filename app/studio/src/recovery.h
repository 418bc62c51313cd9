#pragma once
// Autosave for crash recovery. Each running studio owns one recovery file, guarded by a lock
// file that names its process. A recovery file whose lock is stale (its process died) is an
// orphan: the next start offers to bring it back. A clean close discards the file.

#include <QDateTime>
#include <QList>
#include <QLockFile>
#include <QString>

#include <memory>

#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"

namespace moe::studio {

class RecoveryStore {
public:
    explicit RecoveryStore(const QString& dir = defaultDir());
    ~RecoveryStore();  // keeps the file: after a crash nothing runs either
    RecoveryStore(const RecoveryStore&) = delete;
    RecoveryStore& operator=(const RecoveryStore&) = delete;

    // Writes the project atomically; `originalPath` is where it was opened from (may be empty).
    bool write(const moe::spec::Project& project, const QString& originalPath, QString* error);
    // The work is safe elsewhere (saved, or closed on purpose).
    void discard();
    QString filePath() const { return m_file; }
    bool hasFile() const;

    struct Orphan {
        QString file;
        QString originalPath;
        QDateTime savedAt;
    };
    // Recovery files left by processes that are gone, newest first.
    static QList<Orphan> orphans(const QString& dir = defaultDir());
    static moe::spec::Result<moe::spec::Project> read(const QString& file);
    static void remove(const QString& file);
    static QString defaultDir();

private:
    QString m_file;
    std::unique_ptr<QLockFile> m_lock;
};

}  // namespace moe::studio
