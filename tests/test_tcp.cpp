// tcp_listener / tcp_stream on loopback, IPv4 and IPv6: echo, many
// connections one after another (fd numbers reused), large writes that fill
// the socket buffer, peers that close, and the errors a user meets.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <csignal>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using unblock::task;
using unblock::tcp_listener;
using unblock::tcp_stream;

namespace {

/// Serves `connections` clients one after another: echoes each line back.
task<> echo_server(tcp_listener& listener, int connections) {
    for (int i = 0; i != connections; ++i) {
        tcp_stream client = co_await listener.accept();
        char buffer[256];
        while (const std::size_t n = co_await client.read_some(buffer, sizeof buffer))
            co_await client.write_all(buffer, n);
    }
}

task<std::string> echo_once(std::string host, std::uint16_t port, std::string text) {
    tcp_stream stream = co_await tcp_stream::connect(host, port);
    co_await stream.write_all(text);
    stream.shutdown(); // the server sees end of file after the text
    std::string reply(text.size(), '\0');
    co_await stream.read_exact(reply.data(), reply.size());
    char extra = 0;
    const std::size_t after_end = co_await stream.read_some(&extra, 1);
    CHECK(after_end == 0); // then the server closes
    co_return reply;
}

} // namespace

TEST_CASE("tcp: echo over IPv4 and IPv6 loopback", "[tcp]") {
    const std::string host = GENERATE(as<std::string>{}, "127.0.0.1", "::1");
    auto main_task = [&]() -> task<std::string> {
        auto listener = tcp_listener::bind(host, 0);
        CHECK(listener.port() != 0);
        auto server = unblock::create_task(echo_server(listener, 1));
        std::string reply = co_await echo_once(host, listener.port(), "hello, loop\n");
        co_await server;
        co_return reply;
    };
    CHECK(unblock::run(main_task()) == "hello, loop\n");
}

TEST_CASE("tcp: fifty connections one after another, each on a reused fd number", "[tcp]") {
    auto main_task = []() -> task<int> {
        auto listener = tcp_listener::bind("127.0.0.1", 0);
        auto server = unblock::create_task(echo_server(listener, 50));
        int matched = 0;
        for (int i = 0; i != 50; ++i) {
            const std::string text = "line " + std::to_string(i) + "\n";
            matched += (co_await echo_once("127.0.0.1", listener.port(), text)) == text ? 1 : 0;
        }
        co_await server;
        co_return matched;
    };
    CHECK(unblock::run(main_task()) == 50);
}

TEST_CASE("tcp: 8 MiB written while the peer reads slowly arrive whole", "[tcp]") {
    auto main_task = []() -> task<bool> {
        auto listener = tcp_listener::bind("127.0.0.1", 0);
        std::vector<char> sent(8u << 20);
        for (std::size_t i = 0; i != sent.size(); ++i)
            sent[i] = static_cast<char>(i * 7 + i / 4096);
        auto writer = unblock::create_task([&]() -> task<> {
            tcp_stream stream = co_await tcp_stream::connect("127.0.0.1", listener.port());
            co_await stream.write_all(sent.data(), sent.size()); // fills the buffer: waits
        });
        tcp_stream server = co_await listener.accept();
        std::vector<char> received(sent.size());
        std::size_t done = 0;
        while (done < received.size()) {
            const std::size_t chunk = std::min<std::size_t>(64 * 1024, received.size() - done);
            co_await server.read_exact(received.data() + done, chunk);
            done += chunk;
            if (done % (1u << 20) == 0) co_await unblock::sleep(1ms); // let the writer wait
        }
        co_await writer;
        co_return received == sent;
    };
    CHECK(unblock::run(main_task()));
}

TEST_CASE("tcp: a peer that closes early and one that is gone give io_error, never SIGPIPE",
          "[tcp][errors]") {
    auto main_task = []() -> task<> {
        auto listener = tcp_listener::bind("127.0.0.1", 0);
        tcp_stream client = co_await tcp_stream::connect("127.0.0.1", listener.port());
        {
            tcp_stream server = co_await listener.accept();
            co_await server.write_all("abc");
        } // the server closes
        char buffer[8];
        bool short_read = false;
        try {
            co_await client.read_exact(buffer, sizeof buffer);
        } catch (const unblock::io_error& e) {
            short_read = std::string(e.what()).find("after 3 of 8 bytes") != std::string::npos;
        }
        CHECK(short_read);
        bool write_failed = false;
        try {
            const std::string block(1 << 16, 'x');
            for (int i = 0; i != 64; ++i) // the first writes may still be accepted
                co_await client.write_all(block);
        } catch (const unblock::io_error& e) {
            write_failed =
                e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset;
        }
        CHECK(write_failed);
    };
    unblock::run(main_task());
}

TEST_CASE("tcp: connecting to a closed port, a bad address and a closed stream are clear errors",
          "[tcp][errors]") {
    auto main_task = []() -> task<> {
        std::uint16_t port = 0;
        {
            auto probe = tcp_listener::bind("127.0.0.1", 0);
            port = probe.port();
        } // nobody listens there now
        bool refused = false;
        try {
            co_await tcp_stream::connect("127.0.0.1", port);
        } catch (const unblock::io_error& e) {
            refused = e.code() == std::errc::connection_refused;
        }
        CHECK(refused);
        bool bad_address = false;
        try {
            co_await tcp_stream::connect("localhost", port);
        } catch (const std::invalid_argument& e) {
            bad_address = std::string(e.what()).find("to_thread") != std::string::npos;
        }
        CHECK(bad_address);
        tcp_stream closed;
        char c = 0;
        bool closed_error = false;
        try {
            co_await closed.read_some(&c, 1);
        } catch (const unblock::invalid_state_error&) {
            closed_error = true;
        }
        CHECK(closed_error);
    };
    unblock::run(main_task());
}

TEST_CASE("tcp: a read waiting for data is cancelled by a timeout", "[tcp][cancel]") {
    auto main_task = []() -> task<bool> {
        auto listener = tcp_listener::bind("127.0.0.1", 0);
        tcp_stream client = co_await tcp_stream::connect("127.0.0.1", listener.port());
        tcp_stream server = co_await listener.accept();
        char c = 0;
        bool timed_out = false;
        try {
            co_await unblock::wait_for(server.read_some(&c, 1), 20ms);
        } catch (const unblock::timeout_error&) {
            timed_out = true;
        }
        co_await client.write_all("z"); // the stream still works afterwards
        co_await server.read_exact(&c, 1);
        co_return timed_out&& c == 'z';
    };
    CHECK(unblock::run(main_task()));
}
