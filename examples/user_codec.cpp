// Sending your own type to a process pool: specialize unblock::codec<T>.
//
// A worker process cannot see the parent's memory, so arguments and results
// are encoded to bytes and decoded on the other side. Standard types have
// codecs built in; for your own, write encode/decode (same fields, same order).
// Without a codec, run_in_executor does not compile and says what to add.
#include <unblock/unblock.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

struct polygon {
    std::string name;
    std::vector<std::pair<double, double>> corners;
};

template <>
struct unblock::codec<polygon> {
    static void encode(byte_writer& out, const polygon& p) {
        unblock::encode(out, p.name);
        unblock::encode(out, p.corners);
    }
    static polygon decode(byte_reader& in) {
        polygon p;
        p.name = unblock::decode<std::string>(in);
        p.corners = unblock::decode<std::vector<std::pair<double, double>>>(in);
        return p;
    }
};

/// Runs in a worker process: the shoelace formula.
double area(polygon p) {
    double twice = 0;
    for (std::size_t i = 0; i < p.corners.size(); ++i) {
        const auto [x1, y1] = p.corners[i];
        const auto [x2, y2] = p.corners[(i + 1) % p.corners.size()];
        twice += x1 * y2 - x2 * y1;
    }
    return std::abs(twice) / 2;
}

/// Also in a worker: takes and returns the user type.
polygon scaled(polygon p, double factor) {
    for (auto& [x, y] : p.corners) {
        x *= factor;
        y *= factor;
    }
    p.name += " x" + std::to_string(static_cast<int>(factor));
    return p;
}

unblock::task<> main_coroutine() {
    unblock::process_pool_executor pool(2);
    const polygon square{"square", {{0, 0}, {2, 0}, {2, 2}, {0, 2}}};
    auto big = co_await unblock::run_in_executor(pool, scaled, square, 3.0);
    const double small_area = co_await unblock::run_in_executor(pool, area, square);
    const double big_area = co_await unblock::run_in_executor(pool, area, big);
    std::printf("%s: area %.1f\n", square.name.c_str(), small_area);
    std::printf("%s: area %.1f\n", big.name.c_str(), big_area);
}

int main() { unblock::run(main_coroutine()); }
