// The Catch2 v2 runner, compiled once for every test executable. Its main
// first hands a process started as a spawn-method pool worker to unblock
// (process_pool.hpp), so every test binary can use start_method::spawn.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <unblock/process_pool.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define UNBLOCK_TESTS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNBLOCK_TESTS_UNDER_ASAN 1
#endif
#endif

#ifdef UNBLOCK_TESTS_UNDER_ASAN
// Leak checking is part of the ASan configuration, whatever the platform's
// default: a callback or task the library drops shows up as a leak.
extern "C" const char* __asan_default_options() { return "detect_leaks=1"; }
#endif

#include <csignal>
#include <cstdlib>

int main(int argc, char* argv[]) {
    if (unblock::is_worker_process(argc, argv)) {
        // A test of workers that die while starting sets this in the
        // environment its spawned workers inherit.
        if (std::getenv("UNBLOCK_TEST_WORKER_DIES_AT_START") != nullptr) std::raise(SIGKILL);
        return unblock::worker_main();
    }
    return Catch::Session().run(argc, argv);
}
