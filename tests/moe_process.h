#pragma once
// Runs the `moe` command as a child process for the tests: its exit code and output,
// with an environment free of the launch variables a surrounding launcher may have set.
#include <QProcess>
#include <QString>
#include <QStringList>

#include "test_time.h"

namespace moe_process {

struct Run {
    int code = -1;  // -1: it did not start, crashed or ran past its time
    QString out, err;
};

inline QString moeBinary() { return QString(MOE_BINARY_DIR) + "/app/cli/moe"; }

// This process's environment without RANK, WORLD_SIZE and the other launch variables.
inline QProcessEnvironment cleanEnv() {
    auto e = QProcessEnvironment::systemEnvironment();
    for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) e.remove(v);
    return e;
}

inline Run runMoe(const QStringList& args, const QProcessEnvironment& env = cleanEnv(), int timeoutMs = test_time::scaled(120000)) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(moeBinary(), args);
    Run r;
    if (!p.waitForStarted(test_time::scaled(10000))) return r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

}  // namespace moe_process
