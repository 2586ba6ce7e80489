// Uses unblock as an outside project would, with the warnings users turn on
// (-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wold-style-cast, and
// -Wuseless-cast on g++, all with -Werror) and single-letter macros users
// define (-DT=1 -DV=1 ...): the headers must stay quiet and intact under them.
// It touches most of the API so that the templates are instantiated.
#include <unblock/unblock.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <stop_token>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

int square(int x) { return x * x; }
std::map<std::string, int> tally(std::vector<std::string> words) {
    std::map<std::string, int> counts;
    for (const auto& w : words)
        ++counts[w];
    return counts;
}

struct inline_executor {
    template <class Work>
    void execute(Work&& work) {
        work();
    }
};

unblock::task<int> answer() { co_return 42; }

unblock::task<int> main_task(unblock::thread_pool_executor& pool,
                             unblock::process_pool_executor& processes) {
    auto& loop = unblock::get_running_loop();
    int total = co_await answer();
    total += co_await unblock::to_thread(square, 2); // 4
    total += co_await unblock::to_thread(
        pool, [](std::stop_token, int x) { return x; }, 1); // 1
    inline_executor inline_exec;
    total += co_await unblock::to_thread(inline_exec, square, 1); // 1
    auto future = unblock::run_in_executor(pool, square, 3);
    total += co_await future;                                         // 9
    total += co_await unblock::run_in_executor(processes, square, 2); // 4
    total += co_await unblock::to_thread(processes, square, 1);       // 1
    // Named: g++ 12 rejects an initializer list inside a co_await expression.
    std::vector<std::string> words{"a", "b", "a"};
    const auto counts = co_await unblock::to_thread(processes, tally, std::move(words));
    total += counts.at("a"); // 2

    std::vector<decltype(unblock::to_thread(square, 0))> calls;
    calls.push_back(unblock::to_thread(square, 1));
    calls.push_back(unblock::to_thread(square, 2));
    const std::vector<int> squares = co_await unblock::gather(std::move(calls)); // 1, 4
    total += squares.at(0) + squares.at(1);
    auto [a, b] = co_await unblock::gather(answer(), unblock::sleep(0s));
    (void)b;
    total += a; // 42
    auto outcomes = co_await unblock::gather(unblock::return_exceptions, answer());
    total += std::get<0>(outcomes).value(); // 42

    int ticks = 0;
    auto timer = loop.call_at(loop.time() + 1ms, [&ticks] { ++ticks; });
    co_await unblock::sleep_until(timer.when());
    co_await unblock::sleep(1ms);
    total += ticks;                                    // 1
    total += co_await unblock::wait_for(answer(), 5s); // 42

    std::string label = "consumer";
    auto handle = unblock::create_task(
        [&label](int extra) -> unblock::task<int> {
            co_await unblock::sleep(0s);
            co_return static_cast<int>(label.size()) + extra; // 8 + 0
        },
        0);
    total += co_await handle;
    co_return total;
}

} // namespace

int main() {
    unblock::thread_pool_executor pool(2);
    unblock::process_pool_executor processes(1);
    const int value = unblock::run(main_task(pool, processes));
    processes.shutdown();
    try {
        throw unblock::timeout_error();
    } catch (const unblock::error& e) {
        std::printf("caught: %s\n", e.what());
    }
    constexpr int expected = 42 + 4 + 1 + 1 + 9 + 4 + 1 + 2 + 5 + 42 + 42 + 1 + 42 + 8;
    if (value != expected) {
        std::printf("unexpected value %d (expected %d)\n", value, expected);
        return 1;
    }
    std::printf("unblock consumer OK (%s)\n", UNBLOCK_CONSUMER_MODE_NAME);
    return 0;
}
