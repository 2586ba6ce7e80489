// W6 loopback server under load: the client side, the same for every server.
//
//   w6_load <impl> <server command> [args...] [--smoke]
//
// Starts the server command (which prints "listening on <port>" and serves
// "req\n" -> "ok\n", each request offloading a 1 ms blocking call), opens
// 64 connections from 64 threads of this process (blocking sockets: the
// client is not what is measured), sends R requests in all (20,000; 640 with
// --smoke), one outstanding per connection, and prints
//   W6 <impl> requests_per_s=... p50_us=... p99_us=...
// then stops the server with SIGTERM.
#include "support/measure.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

constexpr int connections = 64;

/// Starts the server; returns its pid and the port it printed.
std::pair<pid_t, int> start_server(std::vector<char*> argv) {
    int out[2];
    if (::pipe(out) != 0) std::exit(1);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::close(out[0]);
        ::close(out[1]);
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        std::perror("w6_load: exec");
        std::_Exit(127);
    }
    ::close(out[1]);
    std::string text;
    char c = 0;
    while (::read(out[0], &c, 1) == 1 && c != '\n')
        text += c;
    ::close(out[0]);
    int port = 0;
    if (std::sscanf(text.c_str(), "listening on %d", &port) != 1) {
        std::fprintf(stderr, "w6_load: the server printed \"%s\", not its port\n", text.c_str());
        ::kill(pid, SIGKILL);
        std::exit(1);
    }
    return {pid, port};
}

int connect_to(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        std::perror("w6_load: connect");
        std::exit(1);
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/// One connection: `count` request/reply pairs; the latency of each.
std::vector<double> client(int port, int count) {
    const int fd = connect_to(port);
    std::vector<double> latencies_us;
    latencies_us.reserve(static_cast<std::size_t>(count));
    char reply[3];
    for (int i = 0; i < count; ++i) {
        const auto start = bench::clock::now();
        if (::send(fd, "req\n", 4, MSG_NOSIGNAL) != 4) std::exit(1);
        std::size_t got = 0;
        while (got < sizeof reply) {
            const ssize_t n = ::recv(fd, reply + got, sizeof reply - got, 0);
            if (n <= 0) {
                std::fprintf(stderr, "w6_load: the server closed the connection\n");
                std::exit(1);
            }
            got += static_cast<std::size_t>(n);
        }
        latencies_us.push_back(
            std::chrono::duration<double, std::micro>(bench::clock::now() - start).count());
    }
    ::close(fd);
    return latencies_us;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: w6_load <impl> <server command> [args...] [--smoke]\n");
        return 2;
    }
    bool smoke = false;
    std::vector<char*> server;
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--smoke") == 0)
            smoke = true;
        else
            server.push_back(argv[i]);
    }
    const int total = smoke ? 640 : 20000;
    const auto [pid, port] = start_server(server);

    std::vector<std::vector<double>> per_client(connections);
    std::vector<std::thread> threads;
    const auto start = bench::clock::now();
    for (int i = 0; i < connections; ++i)
        threads.emplace_back([&, i, port = port] {
            per_client[static_cast<std::size_t>(i)] = client(port, total / connections);
        });
    for (auto& t : threads)
        t.join();
    const double seconds = std::chrono::duration<double>(bench::clock::now() - start).count();

    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    std::vector<double> all;
    for (auto& samples : per_client)
        all.insert(all.end(), samples.begin(), samples.end());
    const double rate = static_cast<double>(all.size()) / seconds;
    const double p50 = bench::percentile(all, 50.0);
    const double p99 = bench::percentile(all, 99.0);
    std::printf("W6 %s requests=%zu connections=%d requests_per_s=%.0f p50_us=%.0f p99_us=%.0f\n",
                argv[1], all.size(), connections, rate, p50, p99);
    return 0;
}
