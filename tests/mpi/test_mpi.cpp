// mpi_pool_executor, run under `mpirun -np 3` by ctest (mpi.suite): rank 0
// runs these cases; ranks 1 and 2 serve. Its own Catch2 runner: the serving
// ranks (and processes started by MPI_Comm_spawn) must serve instead of
// running the cases.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <unblock/mpi.hpp>
#include <unblock/unblock.hpp>

#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

unblock::mpi_environment* g_mpi = nullptr;

int square(int x) { return x * x; }

/// The world rank of the process that runs it, or -1 in a spawned process.
int serving_rank() {
    MPI_Comm parent = MPI_COMM_NULL;
    MPI_Comm_get_parent(&parent);
    if (parent != MPI_COMM_NULL) return -1;
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

/// Holds its worker for `ms` milliseconds, then says which rank it ran on.
int hold_then_rank(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return serving_rank();
}

std::string repeat(std::string text, int times) {
    std::string out;
    for (int i = 0; i < times; ++i)
        out += text;
    return out;
}

int throws_out_of_range(int) { throw std::out_of_range("index 7 is past the end"); }

struct parse_failure {}; // not derived from std::exception

int throws_custom(int) { throw parse_failure{}; }

std::vector<char> bytes(std::size_t n) { return std::vector<char>(n, 'x'); }

} // namespace

TEST_CASE("mpi: run_in_executor runs the call on another rank and resumes on the loop", "[mpi]") {
    unblock::mpi_pool_executor pool(*g_mpi);
    REQUIRE(pool.workers() == 2);
    const auto loop_thread = std::this_thread::get_id();
    const auto [sum, rank, same_thread] =
        unblock::run([&]() -> unblock::task<std::tuple<int, int, bool>> {
            int total = 0;
            for (int i = 0; i < 10; ++i)
                total += co_await unblock::run_in_executor(pool, &square, i);
            const int where = co_await unblock::run_in_executor(pool, &serving_rank);
            co_return std::tuple{total, where, std::this_thread::get_id() == loop_thread};
        }());
    CHECK(sum == 285);
    CHECK((rank == 1 || rank == 2));
    CHECK(same_thread);
}

TEST_CASE("mpi: two calls at once run on both serving ranks", "[mpi]") {
    unblock::mpi_pool_executor pool(*g_mpi);
    // Both queued before either can finish: the I/O thread gives one to each idle rank.
    const auto [a, b] = unblock::run([&]() -> unblock::task<std::tuple<int, int>> {
        co_return co_await unblock::gather(unblock::run_in_executor(pool, &hold_then_rank, 200),
                                           unblock::run_in_executor(pool, &hold_then_rank, 200));
    }());
    CHECK(std::set<int>{a, b} == std::set<int>{1, 2});
}

TEST_CASE("mpi: arguments and results go through codecs, large ones too", "[mpi]") {
    unblock::mpi_pool_executor pool(*g_mpi);
    CHECK(pool.submit(&repeat, std::string("ab"), 3).get() == "ababab");
    const auto big = pool.submit(&bytes, std::size_t{16} << 20).get(); // 16 MiB back
    CHECK(big.size() == (std::size_t{16} << 20));
    CHECK(big.back() == 'x');
}

TEST_CASE("mpi: exceptions keep their standard type or arrive as remote_error", "[mpi]") {
    unblock::mpi_pool_executor pool(*g_mpi);
    CHECK_THROWS_MATCHES(pool.submit(&throws_out_of_range, 1).get(), std::out_of_range,
                         Catch::Message("index 7 is past the end"));
    try {
        pool.submit(&throws_custom, 1).get();
        FAIL("no exception");
    } catch (const unblock::remote_error& e) {
        CHECK_THAT(e.type_name(), Catch::Contains("parse_failure"));
    }
    CHECK(pool.submit(&square, 9).get() == 81); // the ranks serve on
}

TEST_CASE("mpi: map in input order, blocking and awaitable", "[mpi]") {
    unblock::mpi_pool_executor pool(*g_mpi);
    const std::vector<int> inputs{1, 2, 3, 4, 5, 6, 7};
    CHECK(pool.map(&square, inputs, 3) == std::vector<int>{1, 4, 9, 16, 25, 36, 49});
    const auto awaited = unblock::run([&]() -> unblock::task<std::vector<int>> {
        co_return co_await unblock::map(pool, &square, inputs, {.max_concurrency = 2});
    }());
    CHECK(awaited == std::vector<int>{1, 4, 9, 16, 25, 36, 49});
}

TEST_CASE("mpi: a queued call is withdrawn by cancel, a running one runs to its end", "[mpi]") {
    unblock::mpi_pool_executor pool(*g_mpi);
    auto [queued_cancelled,
          busy_results] = unblock::run([&]() -> unblock::task<std::pair<bool, std::vector<int>>> {
        // Two calls hold both ranks for a second; the third waits in the queue.
        auto first = unblock::create_task(unblock::run_in_executor(pool, &hold_then_rank, 1000));
        auto second = unblock::create_task(unblock::run_in_executor(pool, &hold_then_rank, 1000));
        auto third = unblock::run_in_executor(pool, &square, 3);
        const bool withdrawn = third.cancel();
        bool cancelled = false;
        try {
            (void)co_await std::move(third);
        } catch (const unblock::cancelled_error&) {
            cancelled = withdrawn;
        }
        // (No braced list of co_awaits: g++ 12 miscompiles it, "array used as initializer".)
        std::vector<int> ranks;
        ranks.push_back(co_await first);
        ranks.push_back(co_await second);
        co_return std::pair{cancelled, ranks};
    }());
    CHECK(queued_cancelled);
    CHECK(std::set<int>(busy_results.begin(), busy_results.end()) == std::set<int>{1, 2});
}

TEST_CASE("mpi: shutdown with cancel_futures cancels the queue, finishes what runs", "[mpi]") {
    unblock::mpi_pool_executor pool(*g_mpi);
    auto running_a = pool.submit(&hold_then_rank, 500);
    auto running_b = pool.submit(&hold_then_rank, 500);
    // Wait for the state the case is about: both ranks busy.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pool.stats().running != 2 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(pool.stats().running == 2);
    auto queued = pool.submit(&square, 4);
    CHECK(pool.stats().queued == 1);
    pool.shutdown(true, true);
    CHECK_THROWS_AS(queued.get(), unblock::cancelled_error);
    CHECK(running_a.get() >= 1);
    CHECK(running_b.get() >= 1);
    CHECK_THROWS_AS(pool.submit(&square, 1), unblock::executor_shutdown_error);
    CHECK(pool.stats().completed == 2);
}

TEST_CASE("mpi: misuse gets a clear error", "[mpi]") {
    {
        unblock::mpi_pool_executor first(*g_mpi);
        CHECK_THROWS_WITH(unblock::mpi_pool_executor(*g_mpi),
                          Catch::Contains("another executor already uses this job's ranks"));
        first.shutdown();
        unblock::mpi_pool_executor next(*g_mpi); // the ranks are free again
        CHECK(next.submit(&square, 5).get() == 25);
    }
    CHECK_THROWS_AS(unblock::mpi_pool_executor(*g_mpi, {.max_frame_bytes = 100}),
                    std::invalid_argument);
    CHECK_THROWS_AS(unblock::mpi_pool_executor(*g_mpi, {.spawn_workers = -1}),
                    std::invalid_argument);
    CHECK_THROWS_AS(g_mpi->serve(), std::logic_error);
    unblock::mpi_pool_executor small(*g_mpi, {.max_frame_bytes = 4096});
    CHECK_THROWS_AS(small.submit(&bytes, std::size_t{100'000}).get(), unblock::serialization_error);
    CHECK_THROWS_AS(small.submit(&repeat, std::string(10'000, 'a'), 1).get(),
                    unblock::serialization_error);
    CHECK(small.submit(&square, 6).get() == 36);
}

TEST_CASE("mpi: spawned workers (MPI_Comm_spawn) serve like the job's ranks", "[mpi]") {
    unblock::mpi_pool_executor pool(*g_mpi, {.spawn_workers = 2});
    REQUIRE(pool.workers() == 2);
    const std::vector<int> inputs{2, 3, 4};
    const auto [where, squares] =
        unblock::run([&]() -> unblock::task<std::pair<int, std::vector<int>>> {
            const int rank = co_await unblock::run_in_executor(pool, &serving_rank);
            std::vector<int> results = co_await unblock::map(pool, &square, inputs);
            co_return std::pair{rank, std::move(results)};
        }());
    CHECK(where == -1); // ran in a spawned process
    CHECK(squares == std::vector<int>{4, 9, 16});
    // The job's own ranks are not taken by a spawning executor.
    unblock::mpi_pool_executor world(*g_mpi);
    CHECK(world.submit(&square, 7).get() == 49);
}

int main(int argc, char* argv[]) {
    unblock::mpi_environment mpi(argc, argv);
    if (mpi.is_worker()) return mpi.serve();
    g_mpi = &mpi;
    return Catch::Session().run(argc, argv);
}
