/// \file detail/process/spawn.hpp
/// The spawn start method: workers are fresh `exec`s of the program's own
/// image (`/proc/self/exe`), entered through `unblock::is_worker_process` /
/// `unblock::worker_main` at the top of `main` (process_pool.hpp explains the
/// choice of an explicit hook).
///
/// Starting: the pool's I/O thread calls `posix_spawn` (glibc runs it as a
/// vfork-style clone that only makes system calls, so it is safe in a
/// multi-threaded parent). The worker's socket becomes fd 3 in the child (dup2
/// clears close-on-exec on that copy only); every other fd above 2 is closed
/// (`posix_spawn_file_actions_addclosefrom_np`, glibc >= 2.34) or, being
/// close-on-exec, vanishes at exec. Every signal is reset to its default and
/// the mask emptied. argv is `<exe> --unblock-process-worker <hex settings>`
/// and the environment is the parent's at construction plus
/// `UNBLOCK_PROCESS_WORKER=<parent pid>`: both are required, so neither a
/// stray argument nor an inherited variable alone makes a worker.
///
/// Stopping: workers are children of the parent process; the launcher kills
/// (SIGKILL) and reaps each one when asked. A pid is signalled only after
/// `waitid(WNOWAIT)` says it is still our unreaped child (a program that reaps
/// every child itself, or sets SIGCHLD to SIG_IGN, defeats that check: do not
/// combine those with a spawn pool). A worker kills itself when the thread
/// that started it exits (PR_SET_PDEATHSIG), so a parent that dies leaves no
/// worker running.
#pragma once

#include "../../codec.hpp"
#include "../../errors.hpp"
#include "../../process_pool_stats.hpp"
#include "../code_address.hpp"
#include "fd.hpp"
#include "fork_server.hpp"
#include "worker.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ; // NOLINT: POSIX declares it nowhere else

namespace unblock::detail {

/// argv[1] of a spawned worker.
inline constexpr const char* process_worker_argument = "--unblock-process-worker";

/// The environment variable a spawned worker carries (the parent's pid).
inline constexpr const char* process_worker_variable = "UNBLOCK_PROCESS_WORKER";

/// The fds a spawned worker finds its socket (calls) and answer pipe on.
inline constexpr int process_spawned_worker_fd = 3;
inline constexpr int process_spawned_answer_fd = 4;

/// What `is_worker_process` should be called like, for error messages.
inline constexpr const char* process_worker_hook_hint =
    "does main() begin with `if (unblock::is_worker_process(argc, argv)) return "
    "unblock::worker_main();`? (see process_pool.hpp)";

/// Parent side of the spawn start method: starts, kills and reaps workers.
/// Same interface as `process_fork_server`. Not thread-safe: after
/// construction only the pool's I/O thread uses it.
class process_exec_launcher {
public:
    /// Snapshots the environment and the program path. Throws
    /// `std::logic_error` when this process is itself a spawned worker whose
    /// `main` did not call the hook (a pool here would spawn without end),
    /// `std::invalid_argument` if the initializer cannot be sent.
    explicit process_exec_launcher(const process_pool_config& config) {
        if (std::getenv(process_worker_variable) != nullptr) {
            throw std::logic_error(
                std::string("unblock::process_pool_executor: this process was started as a "
                            "worker of a spawn-method pool but did not enter the worker: ") +
                process_worker_hook_hint);
        }
        char path[4096];
        const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
        m_program = n > 0 ? std::string(path, static_cast<std::size_t>(n)) : "unblock-worker";
        byte_writer settings;
        settings.write_raw(std::uint64_t{config.max_frame_bytes});
        try {
            codec_write_code_address(settings,
                                     reinterpret_cast<std::uintptr_t>(config.initializer));
        } catch (const std::exception& e) {
            throw std::invalid_argument(
                std::string("unblock::process_pool_executor: the initializer cannot be sent to a "
                            "spawned worker: ") +
                e.what());
        }
        static constexpr char digits[] = "0123456789abcdef";
        for (const std::byte b : settings.buffer()) {
            m_settings += digits[static_cast<unsigned>(b) >> 4];
            m_settings += digits[static_cast<unsigned>(b) & 15];
        }
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            if (std::strncmp(*e, process_worker_variable, std::strlen(process_worker_variable)) !=
                0) {
                m_environment.emplace_back(*e);
            }
        }
        m_environment.push_back(std::string(process_worker_variable) + "=" +
                                std::to_string(::getpid()));
    }

    process_exec_launcher(const process_exec_launcher&) = delete;
    process_exec_launcher& operator=(const process_exec_launcher&) = delete;
    ~process_exec_launcher() = default;

    /// Starts a worker reading calls from `call_end` and writing answers to
    /// `answer_end` (which the caller still closes). Returns its pid; throws
    /// `std::system_error` on failure.
    pid_t spawn(int call_end, int answer_end) {
        // Both go to fds 3 and 4 in the child. One already there would be
        // overwritten by the other's dup2, or keep close-on-exec (dup2(fd, fd)
        // clears nothing): such ends are copied above 4 first.
        unique_fd moved[2];
        int ends[2] = {call_end, answer_end};
        for (int i = 0; i != 2; ++i) {
            if (ends[i] == process_spawned_worker_fd || ends[i] == process_spawned_answer_fd) {
                moved[i].reset(::fcntl(ends[i], F_DUPFD_CLOEXEC, process_spawned_answer_fd + 1));
                if (moved[i].get() < 0) {
                    throw process_os_error("fcntl(F_DUPFD_CLOEXEC) failed");
                }
                ends[i] = moved[i].get();
            }
        }
        spawn_settings settings;
        int error = ::posix_spawn_file_actions_adddup2(&settings.actions, ends[0],
                                                       process_spawned_worker_fd);
        if (error == 0) {
            error = ::posix_spawn_file_actions_adddup2(&settings.actions, ends[1],
                                                       process_spawned_answer_fd);
        }
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
        if (error == 0) {
            error = ::posix_spawn_file_actions_addclosefrom_np(&settings.actions,
                                                               process_spawned_answer_fd + 1);
        }
#endif
#endif
        if (error != 0) {
            throw std::system_error(error, std::generic_category(),
                                    "unblock::process_pool_executor: posix_spawn setup failed");
        }
        std::vector<char*> argv{m_program.data(), const_cast<char*>(process_worker_argument),
                                m_settings.data(), nullptr};
        std::vector<char*> envp;
        envp.reserve(m_environment.size() + 1);
        for (auto& variable : m_environment) {
            envp.push_back(variable.data());
        }
        envp.push_back(nullptr);
        pid_t pid = -1;
        error = ::posix_spawn(&pid, "/proc/self/exe", &settings.actions, &settings.attributes,
                              argv.data(), envp.data());
        if (error != 0) {
            throw std::system_error(error, std::generic_category(),
                                    "unblock::process_pool_executor: posix_spawn of a worker "
                                    "(/proc/self/exe) failed");
        }
        return pid;
    }

    /// SIGKILLs worker `pid` unless it already exited, reaps it, and returns
    /// its wait status. Throws `std::system_error` if it is not our child.
    int reap(pid_t pid) {
        siginfo_t info{};
        int r;
        while ((r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT)) <
                   0 &&
               errno == EINTR) {
        }
        if (r < 0) {
            throw process_os_error("waitid() of a worker failed (did the program reap it?)");
        }
        if (info.si_pid == 0) {
            ::kill(pid, SIGKILL); // still running, and still ours: the pid cannot be reused
        }
        int status = 0;
        while ((r = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
        }
        if (r < 0) {
            throw process_os_error("waitpid() of a worker failed");
        }
        return status;
    }

    /// Never: there is no server to lose.
    [[nodiscard]] bool gone() const noexcept { return false; }

    /// Nothing to stop: the pool reaps each worker.
    void stop() noexcept {}

private:
    /// posix_spawn's file actions and attributes, destroyed on every path.
    struct spawn_settings {
        spawn_settings() {
            ::posix_spawn_file_actions_init(&actions);
            ::posix_spawnattr_init(&attributes);
            sigset_t all;
            sigemptyset(&all);
            for (int sig = 1; sig < NSIG; ++sig) {
                if (sig != SIGKILL && sig != SIGSTOP) {
                    sigaddset(&all, sig);
                }
            }
            sigset_t none;
            sigemptyset(&none);
            ::posix_spawnattr_setsigdefault(&attributes, &all);
            ::posix_spawnattr_setsigmask(&attributes, &none);
            ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        }
        spawn_settings(const spawn_settings&) = delete;
        spawn_settings& operator=(const spawn_settings&) = delete;
        ~spawn_settings() {
            ::posix_spawn_file_actions_destroy(&actions);
            ::posix_spawnattr_destroy(&attributes);
        }
        posix_spawn_file_actions_t actions{};
        posix_spawnattr_t attributes{};
    };

    std::string m_program;                  ///< argv[0]: the executable's path
    std::string m_settings;                 ///< argv[2]: hex of max_frame and initializer
    std::vector<std::string> m_environment; ///< the environment at construction + the marker
};

/// What a spawned worker learned from its argv and environment.
struct process_spawned_worker {
    bool marked = false;  ///< argv and environment say: a worker
    pid_t parent = 0;     ///< the pool's process
    std::string settings; ///< hex settings from argv[2]
    [[nodiscard]] static process_spawned_worker& get() noexcept {
        static process_spawned_worker self;
        return self;
    }
};

/// See `unblock::is_worker_process`.
[[nodiscard]] inline bool process_is_worker(int argc, char** argv) noexcept {
    if (argc < 3 || argv == nullptr || argv[1] == nullptr ||
        std::strcmp(argv[1], process_worker_argument) != 0) {
        return false;
    }
    const char* parent = std::getenv(process_worker_variable);
    if (parent == nullptr) {
        return false;
    }
    auto& self = process_spawned_worker::get();
    self.marked = true;
    self.parent = static_cast<pid_t>(std::atol(parent));
    try {
        self.settings = argv[2];
    } catch (...) {
        self.settings.clear();
    }
    ::unsetenv(process_worker_variable); // not inherited by what the worker starts
    return true;
}

/// Decodes the hex settings of a spawned worker (max_frame, initializer).
inline void process_decode_worker_settings(const std::string& hex, std::uint64_t& max_frame,
                                           void (*&initializer)()) {
    const auto nibble = [](char c) -> unsigned {
        if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
        throw serialization_error("unblock: malformed spawned-worker settings");
    };
    std::vector<std::byte> bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        bytes.push_back(static_cast<std::byte>((nibble(hex[i]) << 4) | nibble(hex[i + 1])));
    }
    byte_reader in(bytes.data(), bytes.size());
    max_frame = in.read_raw<std::uint64_t>();
    initializer = codec<void (*)()>::decode(in);
}

/// See `unblock::worker_main`.
[[nodiscard]] inline int process_spawned_worker_main() noexcept {
    const auto& self = process_spawned_worker::get();
    if (!self.marked) {
        std::fputs("unblock::worker_main: this process was not started as a worker "
                   "(call it only when unblock::is_worker_process(argc, argv) is true)\n",
                   stderr);
        return 64;
    }
    // Die with the thread that started us; if the parent is already gone, now.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != self.parent) {
        return 0;
    }
    // Default dispositions, as a forked worker has: handlers installed by the
    // image's static initializers (a sanitizer's, the program's) do not turn
    // a crash into an exit code.
    process_reset_signals();
    const int call_fd = process_spawned_worker_fd;
    const int answer_fd = process_spawned_answer_fd;
    // Not inherited by what the calls start.
    ::fcntl(call_fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(answer_fd, F_SETFD, FD_CLOEXEC);
    int code = process_worker_internal_failure;
    try {
        std::uint64_t max_frame = 0;
        void (*initializer)() = nullptr;
        try {
            process_decode_worker_settings(self.settings, max_frame, initializer);
        } catch (...) {
            process_worker_send_init_failure(answer_fd);
            return 1;
        }
        code = process_worker_loop(call_fd, answer_fd, initializer, max_frame);
    } catch (...) {
        // Out of memory while building a frame, or similar: the parent sees
        // the exit code and fails the call with worker_crashed_error.
    }
    process_worker_flush();
    return code;
}

/// Starts, kills and reaps workers by either start method.
class process_launcher {
public:
    explicit process_launcher(const process_pool_config& config) {
        if (config.method == start_method::spawn) {
            m_exec = std::make_unique<process_exec_launcher>(config);
        } else {
            m_fork = std::make_unique<process_fork_server>(config);
        }
    }

    /// Starts a worker with `call_end` and `answer_end`; see the launchers.
    pid_t spawn(int call_end, int answer_end) {
        if (process_fault_injection::refused_spawns.load(std::memory_order_relaxed) > 0) {
            process_fault_injection::refused_spawns.fetch_sub(1, std::memory_order_relaxed);
            throw std::system_error(EAGAIN, std::generic_category(),
                                    "unblock::process_pool_executor: fork() of a worker failed");
        }
        return m_exec ? m_exec->spawn(call_end, answer_end) : m_fork->spawn(call_end, answer_end);
    }
    int reap(pid_t pid) { return m_exec ? m_exec->reap(pid) : m_fork->reap(pid); }
    [[nodiscard]] bool gone() const noexcept { return m_exec ? m_exec->gone() : m_fork->gone(); }
    void stop() noexcept {
        if (m_exec) {
            m_exec->stop();
        } else {
            m_fork->stop();
        }
    }

private:
    std::unique_ptr<process_fork_server> m_fork;
    std::unique_ptr<process_exec_launcher> m_exec;
};

} // namespace unblock::detail
