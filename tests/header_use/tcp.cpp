// <unblock/tcp.hpp> alone.
#include <unblock/tcp.hpp>
#include <unblock/tcp.hpp> // the include guard holds

namespace {
unblock::task<bool> main_task() {
    auto listener = unblock::tcp_listener::bind("127.0.0.1", 0);
    auto client = co_await unblock::tcp_stream::connect("127.0.0.1", listener.port());
    auto server = co_await listener.accept();
    co_await client.write_all("x");
    char c = 0;
    co_await server.read_exact(&c, 1);
    co_return c == 'x';
}
} // namespace

bool header_use_tcp() { return unblock::run(main_task()); }
