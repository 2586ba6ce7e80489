/// \file tests/support/start_methods.hpp
/// Runs a process-pool test case once per start method: the case begins with
/// `UNBLOCK_EACH_START_METHOD();` (a Catch2 GENERATE) and builds its pools
/// from `pool_options(...)`, which carries the method of the current run.
/// Spawned workers enter through the hook in tests/catch_main.cpp.
#pragma once

#include <unblock/process_pool.hpp>

#include <catch2/catch.hpp>

#include <cstddef>

namespace unblock::test {

/// The start method of the test case running now.
inline start_method g_start_method = start_method::fork_server;

[[nodiscard]] inline const char* start_method_name(start_method method) noexcept {
    return method == start_method::spawn ? "spawn" : "fork_server";
}

/// `max_workers` workers started by the method under test.
[[nodiscard]] inline process_pool_executor::options pool_options(std::size_t max_workers) {
    process_pool_executor::options options;
    options.max_workers = max_workers;
    options.start_method = g_start_method;
    return options;
}

/// `options` with the method under test.
[[nodiscard]] inline process_pool_executor::options
pool_options(process_pool_executor::options options) {
    options.start_method = g_start_method;
    return options;
}

} // namespace unblock::test

/// Runs the rest of the test case once with each start method.
#define UNBLOCK_EACH_START_METHOD()                                                                \
    ::unblock::test::g_start_method =                                                              \
        GENERATE(::unblock::start_method::fork_server, ::unblock::start_method::spawn);            \
    INFO("start method: " << ::unblock::test::start_method_name(::unblock::test::g_start_method))
