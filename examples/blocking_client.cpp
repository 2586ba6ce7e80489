// The client of examples/blocking_server.cpp: 8 connections at once, each
// asking for 5 keys (one unknown), checking every reply.
//
//   blocking_client <port> [host]        (host: 127.0.0.1 by default)
//
// Prints "40 replies, all as expected" and exits 0, or says what differed.
#include <unblock/unblock.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using unblock::task;
using unblock::tcp_stream;

namespace {

/// Reads one line (without its '\n').
task<std::string> read_line(tcp_stream& stream) {
    std::string line;
    char c = 0;
    while (co_await stream.read_some(&c, 1) == 1 && c != '\n')
        line += c;
    co_return line;
}

/// One connection: its requests and the replies that must come back.
task<int> ask(std::string host, std::uint16_t port) {
    const std::vector<std::pair<std::string, std::string>> requests = {
        {"GET apple", "apple=red"},
        {"GET lime", "lime=green"},
        {"GET durian", "ERR no such key durian"},
        {"GET banana", "banana=yellow"},
        {"GET cherry", "cherry=dark red"}};
    tcp_stream stream = co_await tcp_stream::connect(host, port);
    int good = 0;
    for (const auto& [request, expected] : requests) {
        co_await stream.write_all(request + "\n");
        const std::string reply = co_await read_line(stream);
        if (reply == expected) {
            ++good;
        } else {
            std::printf("%s: expected \"%s\", got \"%s\"\n", request.c_str(), expected.c_str(),
                        reply.c_str());
        }
    }
    co_await stream.write_all("QUIT\n");
    co_return good;
}

task<int> main_task(std::string host, std::uint16_t port) {
    std::vector<task<int>> clients;
    for (int i = 0; i != 8; ++i)
        clients.push_back(ask(host, port));
    int good = 0;
    for (const int n : co_await unblock::gather(std::move(clients)))
        good += n;
    co_return good;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: blocking_client <port> [host]\n");
        return 2;
    }
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const std::string host = argc > 2 ? argv[2] : "127.0.0.1";
    const int good = unblock::run(main_task(host, port));
    if (good != 40) {
        std::printf("%d of 40 replies as expected\n", good);
        return 1;
    }
    std::printf("40 replies, all as expected\n");
    return 0;
}
