// ctest frame_cache.no_arena_under_an_address_space_limit: under RLIMIT_AS
// (ulimit -v) the frame space is not reserved, so its 4 GiB never come out of
// the program's budget, and frames come from the heap; tasks still run.
// Without a limit, the same program carves its frames from a slot. Exits 0
// when both hold. (Not in sanitizer builds: their runtimes reserve terabytes
// of address space, and the frame cache is off there anyway.)
#include <unblock/unblock.hpp>

#include <cstdio>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

unblock::task<int> one() { co_return 1; }

/// Runs a few tasks; whether the loop's frames came from a slot of the frame space.
bool frames_from_a_slot() {
    return unblock::run([]() -> unblock::task<bool> {
        int sum = 0;
        for (int i = 0; i != 10; ++i)
            sum += co_await unblock::create_task(one());
        co_return sum == 10 && unblock::detail::frame_cache::local().holds_slot();
    }());
}

/// In a fresh child (the space is reserved once per process): 0 if the
/// frames came from a slot, 1 if not, 2 on failure.
int child_outcome(bool limit_address_space) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (limit_address_space) {
            const rlimit limit{rlim_t{8} << 30, rlim_t{8} << 30}; // 8 GiB
            if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(2);
        }
        ::_exit(frames_from_a_slot() ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 2;
    return WEXITSTATUS(status);
}

} // namespace

int main() {
    const int unlimited = child_outcome(false);
    const int limited = child_outcome(true);
    std::printf("frames from a slot: without a limit %s, under RLIMIT_AS %s\n",
                unlimited == 0 ? "yes" : "no", limited == 0 ? "yes" : "no");
    return unlimited == 0 && limited == 1 ? 0 : 1;
}
