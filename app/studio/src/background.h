#pragma once
// Work off the UI thread and its result back on it: the one way the studio does it.
//
// What crosses is built before spec::handOver() and read after spec::takeOver() (see
// moe/spec/handover.h): the task is wrapped before it is given to the pool, and the result goes
// back as an event built before it is posted (invokeMethod would copy it after the hand-over).

#include <QCoreApplication>
#include <QEvent>
#include <QObject>
#include <QPointer>
#include <QThreadPool>

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "moe/spec/handover.h"

namespace moe::studio {

namespace detail {

// A call for the UI thread, posted as an event to the mailbox below.
class UiCall : public QEvent {
public:
    explicit UiCall(std::function<void()> f) : QEvent(kind()), fn(std::move(f)) {}
    static QEvent::Type kind() {
        static const auto t = static_cast<QEvent::Type>(QEvent::registerEventType());
        return t;
    }
    std::function<void()> fn;
};

class UiMailbox : public QObject {
public:
    using QObject::QObject;
    bool event(QEvent* e) override {
        if (e->type() != UiCall::kind()) return QObject::event(e);
        spec::takeOver();
        static_cast<UiCall*>(e)->fn();
        return true;
    }
};

// Lives on the UI thread as a child of the application; first made by inBackground (on the UI thread).
inline QObject* uiMailbox() {
    static QPointer<UiMailbox> box;
    if (!box) box = new UiMailbox(QCoreApplication::instance());
    return box;
}

}  // namespace detail

// Runs work() on Qt's global thread pool, then done(result) on the UI thread unless `owner` is
// gone by then. `done` gets the result as a non-const reference, so it may move from it. Call
// on the UI thread.
template <class Work, class Done>
void inBackground(QObject* owner, Work work, Done done) {
    using Result = std::decay_t<decltype(work())>;
    QObject* mailbox = detail::uiMailbox();
    std::function<void()> task = [alive = QPointer<QObject>(owner), mailbox, work = std::move(work), done = std::move(done)]() mutable {
        spec::takeOver();
        auto result = std::make_shared<Result>(work());
        auto* back = new detail::UiCall([alive, result, done]() mutable {
            if (alive) done(*result);
        });
        spec::handOver();
        QCoreApplication::postEvent(mailbox, back);
    };
    spec::handOver();
    QThreadPool::globalInstance()->start(std::move(task));
}

}  // namespace moe::studio
