/// \file benchmarks/runner/cpu_hogs.hpp
/// One CPU-bound process per core, for the runner's "under contention" pass
/// (BENCHMARKS.md W1/W2 a second time): a busy machine is where spinning loses.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>
#include <vector>

namespace runner {

/// Starts `count` processes that spin until this object is destroyed (and die
/// with the runner if it is killed first).
class cpu_hogs {
public:
    explicit cpu_hogs(unsigned count = std::thread::hardware_concurrency()) {
        for (unsigned i = 0; i < count; ++i) {
            const pid_t pid = fork();
            if (pid < 0) {
                stop();
                throw std::system_error(errno, std::generic_category(), "fork a CPU hog");
            }
            if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                // A volatile store is observable behaviour: the loop cannot be
                // optimised away (an infinite loop without one would be UB).
                [[maybe_unused]] volatile unsigned long sink = 0;
                for (unsigned long spin = 0;; ++spin)
                    sink = spin;
            }
            m_pids.push_back(pid);
        }
    }
    cpu_hogs(const cpu_hogs&) = delete;
    cpu_hogs& operator=(const cpu_hogs&) = delete;
    ~cpu_hogs() { stop(); }

    [[nodiscard]] std::size_t count() const noexcept { return m_pids.size(); }

private:
    void stop() noexcept {
        for (const pid_t pid : m_pids)
            kill(pid, SIGKILL);
        for (const pid_t pid : m_pids)
            while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
        m_pids.clear();
    }

    std::vector<pid_t> m_pids;
};

} // namespace runner
