// A TCP server whose requests run a blocking call: what asyncio's
// start_server + to_thread programs do, on unblock's loop.
//
//   blocking_server [port]        (no port or 0: a free one; it prints which)
//
// Protocol, one line each way:  "GET <key>"  ->  "<key>=<value>" or
// "ERR no such key <key>";  "QUIT" closes the connection. The lookup is a
// blocking call (a short sleep standing in for a database driver or a file
// read); at most 4 run at once through a capacity_limiter, so a burst of
// clients cannot take every pool thread. Ctrl-C (SIGINT) cancels the server:
// every connection's task is cancelled, run() throws interrupted_error, and
// the program says so and exits 0. Try it with examples/blocking_client.cpp.
#include <unblock/unblock.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

using unblock::task;
using unblock::tcp_stream;

namespace {

/// The blocking call: think of a SQL query through a driver that blocks.
std::string blocking_lookup(const std::string& key) {
    static const std::map<std::string, std::string> table = {{"apple", "red"},
                                                             {"banana", "yellow"},
                                                             {"cherry", "dark red"},
                                                             {"lime", "green"}};
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto found = table.find(key);
    return found == table.end() ? "ERR no such key " + key + "\n"
                                : key + "=" + found->second + "\n";
}

/// Serves one client until it quits or goes away. The group keeps `client`
/// (moved into the task) alive until this returns.
task<> serve_client(tcp_stream& client, unblock::capacity_limiter& limiter) {
    std::string pending;
    char chunk[512];
    try {
        while (true) {
            const std::size_t end = pending.find('\n');
            if (end == std::string::npos) {
                const std::size_t n = co_await client.read_some(chunk, sizeof chunk);
                if (n == 0) co_return; // the client closed
                pending.append(chunk, n);
                continue;
            }
            const std::string line = pending.substr(0, end);
            pending.erase(0, end + 1);
            if (line == "QUIT") co_return;
            if (line.rfind("GET ", 0) == 0) {
                co_await client.write_all(co_await limiter.run(blocking_lookup, line.substr(4)));
            } else {
                co_await client.write_all("ERR unknown command\n");
            }
        }
    } catch (const unblock::io_error& e) {
        std::fprintf(stderr, "client dropped: %s\n", e.what()); // one client, not the server
    }
}

task<> serve(std::uint16_t port) {
    auto listener = unblock::tcp_listener::bind("127.0.0.1", port);
    std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned>(listener.port()));
    std::fflush(stdout);
    unblock::capacity_limiter limiter(4);
    co_await unblock::with_task_group([&](unblock::task_group& group) -> task<> {
        while (true) {
            tcp_stream client = co_await listener.accept();
            group.start_soon(serve_client, std::move(client), std::ref(limiter));
        }
    });
}

} // namespace

int main(int argc, char** argv) {
    const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
    try {
        unblock::run(serve(port));
    } catch (const unblock::interrupted_error&) {
        std::printf("interrupted: connections closed, shut down cleanly\n");
    }
    return 0;
}
