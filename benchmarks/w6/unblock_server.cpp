// W6 loopback server, unblock: tcp_listener + one task per connection; each
// "req\n" offloads a 1 ms blocking call with to_thread on the default pool,
// then answers "ok\n". Prints "listening on <port>"; runs until SIGTERM.
// Driven by w6_load (benchmarks/w6/load.cpp).
#include <unblock/unblock.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

namespace {

unblock::task<> serve_client(unblock::tcp_stream client) {
    char buffer[64];
    try {
        while (true) {
            const std::size_t n = co_await client.read_some(buffer, sizeof buffer);
            if (n == 0) co_return;
            for (std::size_t i = 0; i != n; ++i) {
                if (buffer[i] != '\n') continue;
                co_await unblock::to_thread(
                    [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); });
                co_await client.write_all("ok\n", 3);
            }
        }
    } catch (const unblock::io_error&) {
        // the client went away
    }
}

unblock::task<> serve() {
    auto listener = unblock::tcp_listener::bind("127.0.0.1", 0);
    std::printf("listening on %u\n", static_cast<unsigned>(listener.port()));
    std::fflush(stdout);
    while (true) {
        auto client = co_await listener.accept();
        unblock::create_task(serve_client(std::move(client))).detach();
    }
}

} // namespace

int main() {
    unblock::run(serve()); // the default pool: min(32, cores + 4) threads, as asyncio's
}
