/// \file errors.hpp
/// The exception types unblock throws. Every `what()` says what happened and,
/// where it helps, what to do about it.
#pragma once

#include "detail/error_text.hpp"

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace unblock {

/// Base of every error unblock throws itself.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The awaiting task was cancelled (`join_handle::cancel()`, `future::cancel()`,
/// a timeout, or `run()` cleaning up). A task may catch it to clean up; it
/// should rethrow it afterwards.
class cancelled_error : public error {
public:
    cancelled_error() : error("unblock: the operation was cancelled") {}
    using error::error;
};

/// `run()` was interrupted by SIGINT (Ctrl-C): its main task was cancelled
/// and its cleanup ran (asyncio.run's KeyboardInterrupt). A second SIGINT
/// meanwhile ends the process the default way.
class interrupted_error : public cancelled_error {
public:
    interrupted_error()
        : cancelled_error("unblock::run: interrupted by SIGINT (Ctrl-C); the main task was "
                          "cancelled and its cleanup ran") {}
};

/// `wait_for` ran out of time; the inner work has been cancelled.
class timeout_error : public error {
public:
    timeout_error() : error("unblock: wait_for timed out; the awaited work was cancelled") {}
    using error::error;
};

/// Something that needs a running event loop was used on a thread that runs none.
class no_running_loop_error : public error {
public:
    no_running_loop_error()
        : error(
              "unblock: no event loop is running on this thread; "
              "call this from a coroutine started by unblock::run() or event_loop::run_until_complete()") {
    }
    using error::error;
};

/// An operation was used in a state that does not allow it, e.g. awaiting a
/// `join_handle` twice or reading a result that is not ready yet.
class invalid_state_error : public error {
public:
    using error::error;
};

/// `queue::put_nowait()` found the queue full (asyncio.QueueFull).
class queue_full_error : public error {
public:
    queue_full_error()
        : error("unblock::queue::put_nowait(): the queue is full; co_await put(x) to wait for "
                "room, or make the queue bigger") {}
    using error::error;
};

/// `queue::get_nowait()` found the queue empty (asyncio.QueueEmpty).
class queue_empty_error : public error {
public:
    queue_empty_error()
        : error("unblock::queue::get_nowait(): the queue is empty; co_await get() to wait for "
                "an item") {}
    using error::error;
};

/// The queue was shut down (asyncio.QueueShutDown): no more puts, and gets
/// once it is empty.
class queue_shut_down_error : public error {
public:
    queue_shut_down_error()
        : error("unblock::queue: the queue was shut down (shutdown()); it accepts no more items, "
                "and gets fail once it is empty") {}
    using error::error;
};

/// Work was submitted to an executor that has been shut down.
class executor_shutdown_error : public error {
public:
    executor_shutdown_error()
        : error("unblock: the executor has been shut down and accepts no new work; "
                "submit before shutdown() or create a new executor") {}
    using error::error;
};

/// The executor can no longer run work (e.g. its initializer threw).
class broken_executor_error : public error {
public:
    using error::error;
};

/// A process-pool worker died (signal or exit) while running the task.
class worker_crashed_error : public error {
public:
    using error::error;
};

/// An exception thrown in a worker process that has no local equivalent.
/// `what()` contains the original type name and message.
class remote_error : public error {
public:
    remote_error(const std::string& type_name, const std::string& message)
        : error("unblock: the worker process threw " + type_name + ": " + message),
          m_type_name(std::make_shared<const std::string>(type_name)) {}

    /// The (demangled where possible) type name of the original exception.
    [[nodiscard]] const std::string& type_name() const noexcept { return *m_type_name; }

private:
    std::shared_ptr<const std::string> m_type_name; // shared: copying an exception must not throw
};

/// A system call on a file descriptor failed: waiting on a closed or invalid
/// fd, a regular file given to wait_readable, a loop that could not create
/// its epoll instance. `code()` is the errno.
class io_error : public error {
public:
    io_error(std::error_code code, const std::string& what)
        : error(what + ": " + code.message()), m_code(code) {}

    [[nodiscard]] const std::error_code& code() const noexcept { return m_code; }

private:
    std::error_code m_code;
};

/// A value could not be encoded or decoded for a process pool.
class serialization_error : public error {
public:
    using error::error;
};

/// Several tasks of a `task_group` failed (asyncio's ExceptionGroup): every
/// exception, in the order they happened. `what()` lists their messages.
/// A group fails with it also when one task failed, as asyncio's does, so a
/// handler has one shape to catch.
class exception_group : public error {
public:
    explicit exception_group(std::vector<std::exception_ptr> errors)
        : error(describe(errors)),
          m_errors(std::make_shared<const std::vector<std::exception_ptr>>(std::move(errors))) {}

    /// The exceptions, in the order the tasks failed.
    [[nodiscard]] const std::vector<std::exception_ptr>& exceptions() const noexcept {
        return *m_errors;
    }

private:
    static std::string describe(const std::vector<std::exception_ptr>& errors) {
        std::string text = "unblock::task_group: " + std::to_string(errors.size()) +
                           (errors.size() == 1 ? " task failed" : " tasks failed");
        for (std::size_t i = 0; i != errors.size(); ++i) {
            text += (i == 0 ? ": " : "; ");
            text += "(" + std::to_string(i + 1) + ") " + detail::error_text(errors[i]);
        }
        return text + " (exceptions() holds each one)";
    }

    // shared: copying an exception must not throw
    std::shared_ptr<const std::vector<std::exception_ptr>> m_errors;
};

} // namespace unblock
