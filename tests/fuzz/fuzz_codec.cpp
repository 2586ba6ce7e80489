// libFuzzer target: codec<T>::decode of the built-in types. Any input must
// give a value or a serialization_error: never a crash, a hang, another
// exception, or an allocation out of proportion to the input (libFuzzer's
// -malloc_limit_mb catches that). A decoded value must encode and decode
// back to itself.
//
// Built twice from this file: as the fuzzer (clang -fsanitize=fuzzer), and
// with UNBLOCK_FUZZ_WRITE_SEEDS as a program that writes valid encodings of
// each type into a directory (created if missing), the seed corpus.
#include <unblock/codec.hpp>
#include <unblock/errors.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace {

using seed_types =
    std::tuple<std::int32_t, double, std::string, std::vector<int>, std::vector<bool>,
               std::vector<std::string>, std::optional<std::string>,
               std::variant<int, std::string, double>, std::map<std::string, std::vector<double>>,
               std::set<int>, std::tuple<int, std::string, bool>,
               std::pair<std::string, std::optional<int>>, std::array<std::string, 3>,
               std::vector<std::vector<std::pair<int, std::string>>>>;

/// Values the seeds are made of, one per type of `seed_types`.
seed_types sample_values() {
    return {-7,
            3.5,
            "hello",
            {1, 2, 3},
            {true, false, true},
            {"a", "", "ccc"},
            std::optional<std::string>("x"),
            std::variant<int, std::string, double>(std::string("v")),
            {{"k", {1.0, 2.0}}, {"", {}}},
            {1, 5, 9},
            {4, "four", true},
            {"p", 3},
            {{"x", "yy", ""}},
            {{{1, "one"}}, {}}};
}

template <class T>
void check_decode(const std::uint8_t* data, std::size_t size) {
    unblock::byte_reader in(reinterpret_cast<const std::byte*>(data), size);
    T value;
    try {
        value = unblock::codec<T>::decode(in);
    } catch (const unblock::serialization_error&) {
        return; // malformed input, reported as it must be
    }
    // Round trip: what decoded must encode, decode and encode to the same
    // bytes (bytes, not ==, so that a NaN compares equal to itself).
    unblock::byte_writer out;
    unblock::codec<T>::encode(out, value);
    unblock::byte_reader again(out.buffer().data(), out.buffer().size());
    unblock::byte_writer out_again;
    unblock::codec<T>::encode(out_again, unblock::codec<T>::decode(again));
    if (out.buffer() != out_again.buffer()) std::abort();
}

template <std::size_t... I>
void decode_as(std::size_t type, const std::uint8_t* data, std::size_t size,
               std::index_sequence<I...>) {
    ((type == I ? check_decode<std::tuple_element_t<I, seed_types>>(data, size) : void()), ...);
}

} // namespace

#ifndef UNBLOCK_FUZZ_WRITE_SEEDS

// The first byte picks the type; the rest is its encoding.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    constexpr std::size_t types = std::tuple_size_v<seed_types>;
    decode_as(data[0] % types, data + 1, size - 1, std::make_index_sequence<types>{});
    return 0;
}

#else

#include <filesystem>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " <seed directory>\n";
        return 2;
    }
    const std::string dir = argv[1];
    std::filesystem::create_directories(dir);
    std::size_t index = 0;
    std::apply(
        [&](const auto&... values) {
            auto write_one = [&](const auto& value) {
                unblock::byte_writer out;
                unblock::codec<std::remove_cvref_t<decltype(value)>>::encode(out, value);
                std::ofstream file(dir + "/seed_" + std::to_string(index), std::ios::binary);
                const char type = static_cast<char>(index);
                file.write(&type, 1);
                file.write(reinterpret_cast<const char*>(out.buffer().data()),
                           static_cast<std::streamsize>(out.buffer().size()));
                ++index;
            };
            (write_one(values), ...);
        },
        sample_values());
    return 0;
}

#endif
