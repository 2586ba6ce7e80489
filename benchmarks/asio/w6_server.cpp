// W6 loopback server, Boost.Asio (BENCHMARKS.md): an io_context run on the
// main thread accepts on loopback and co_spawns a coroutine per connection;
// each "req\n" offloads a 1 ms blocking call to an asio::thread_pool with
// co_spawn (offload.hpp), then writes "ok\n". The pool has the threads of
// unblock's and asyncio's default pools, min(32, cores + 4). Prints
// "listening on <port>"; runs until SIGTERM. Driven by w6_load.
#include "offload.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace {

using asio::ip::tcp;

asio::awaitable<void> serve_client(tcp::socket socket, asio::thread_pool& pool) {
    std::string received;
    try {
        while (true) {
            const std::size_t line =
                co_await asio::async_read_until(socket, asio::dynamic_buffer(received), '\n',
                                                asio::use_awaitable);
            received.erase(0, line);
            co_await peer::offload_co_spawn(pool, [] {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            });
            co_await asio::async_write(socket, asio::buffer("ok\n", 3), asio::use_awaitable);
        }
    } catch (const boost::system::system_error&) {
        // the client went away
    }
}

asio::awaitable<void> accept_clients(tcp::acceptor& acceptor, asio::thread_pool& pool) {
    while (true) {
        tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
        socket.set_option(tcp::no_delay(true)); // as unblock's tcp_stream and asyncio do
        asio::co_spawn(acceptor.get_executor(), serve_client(std::move(socket), pool),
                       asio::detached);
    }
}

} // namespace

int main() {
    asio::io_context io(1);
    asio::thread_pool pool(std::min(32U, std::thread::hardware_concurrency() + 4));
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    std::printf("listening on %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    asio::co_spawn(io, accept_clients(acceptor, pool), asio::detached);
    io.run();
}
