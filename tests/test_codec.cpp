// Tests of codec.hpp: round trips of every built-in codec, nested types, a
// user codec, and malformed input.
#include <unblock/codec.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace {

struct pod {
    int a;
    double b;
    char c[3];
    bool operator==(const pod& o) const {
        return a == o.a && b == o.b && c[0] == o.c[0] && c[1] == o.c[1] && c[2] == o.c[2];
    }
};

enum class colour : std::uint8_t { red, green, blue };

/// A user type with its own codec (holds a std::string, so not trivially copyable).
struct point {
    std::string name;
    double x = 0;
    double y = 0;
    bool operator==(const point&) const = default;
};

struct no_codec {
    std::unique_ptr<int> p;
};

/// Leaves a variant valueless when moved into it.
struct throws_on_move {
    throws_on_move() = default;
    throws_on_move(throws_on_move&&) { throw 1; }
};

int plus_one(int x) { return x + 1; }

template <class T>
T round_trip(const T& value) {
    unblock::byte_writer out;
    unblock::encode(out, value);
    unblock::byte_reader in(out.buffer().data(), out.size());
    T back = unblock::decode<T>(in);
    REQUIRE(in.remaining() == 0);
    return back;
}

} // namespace

/// The user codec shown in codec.hpp: fields in order, through the built-ins.
template <>
struct unblock::codec<point> {
    static void encode(byte_writer& out, const point& p) {
        unblock::encode(out, p.name);
        unblock::encode(out, p.x);
        unblock::encode(out, p.y);
    }
    static point decode(byte_reader& in) {
        point p;
        p.name = unblock::decode<std::string>(in);
        p.x = unblock::decode<double>(in);
        p.y = unblock::decode<double>(in);
        return p;
    }
};

template <>
struct unblock::codec<throws_on_move> {
    static void encode(byte_writer&, const throws_on_move&) {}
    static throws_on_move decode(byte_reader&) { return {}; }
};

static_assert(unblock::codable<int>);
static_assert(unblock::codable<pod>);
static_assert(unblock::codable<point>);
static_assert(unblock::codable<std::vector<point>>);
static_assert(unblock::codable<int (*)(int)>);
static_assert(!unblock::codable<int*>, "object pointers do not cross processes");
static_assert(!unblock::codable<const char*>);
static_assert(!unblock::codable<std::string_view>, "views would dangle in the worker");
static_assert(!unblock::codable<std::reference_wrapper<int>>);
static_assert(!unblock::codable<no_codec>);
static_assert(!unblock::codable<std::vector<no_codec>>, "containers need codable elements");
static_assert(!unblock::codable<std::map<int, no_codec>>);
static_assert(!unblock::codable<std::optional<std::unique_ptr<int>>>);

TEST_CASE("codec: trivially copyable values round-trip byte for byte", "[codec]") {
    CHECK(round_trip(42) == 42);
    CHECK(round_trip(-1LL) == -1LL);
    CHECK(round_trip(3.25) == 3.25);
    CHECK(round_trip('x') == 'x');
    CHECK(round_trip(true) == true);
    CHECK(round_trip(colour::blue) == colour::blue);
    CHECK(round_trip(pod{7, 2.5, {'a', 'b', 'c'}}) == pod{7, 2.5, {'a', 'b', 'c'}});
    CHECK(round_trip(std::monostate{}) == std::monostate{});
    CHECK(round_trip(&plus_one)(1) == 2);
}

TEST_CASE("codec: strings keep their length and every byte", "[codec]") {
    CHECK(round_trip(std::string()).empty());
    const std::string with_nul("a\0b\0", 4);
    CHECK(round_trip(with_nul) == with_nul);
    CHECK(round_trip(std::string(100000, 'z')) == std::string(100000, 'z'));
    CHECK(round_trip(std::u16string(u"h\u00e9llo")) == u"h\u00e9llo");
    CHECK(round_trip(std::wstring(L"wide")) == L"wide");
}

TEST_CASE("codec: sequences", "[codec]") {
    CHECK(round_trip(std::vector<int>{}).empty());
    CHECK(round_trip(std::vector<int>{1, 2, 3}) == std::vector<int>{1, 2, 3});
    CHECK(round_trip(std::vector<std::string>{"a", "", "ccc"}) ==
          std::vector<std::string>{"a", "", "ccc"});
    CHECK(round_trip(std::vector<bool>{true, false, true, true}) ==
          std::vector<bool>{true, false, true, true});
    CHECK(round_trip(std::array<int, 3>{4, 5, 6}) == std::array<int, 3>{4, 5, 6});
    CHECK(round_trip(std::array<std::string, 2>{"x", "yy"}) ==
          std::array<std::string, 2>{"x", "yy"});
    CHECK(round_trip(std::array<int, 0>{}).empty());
}

TEST_CASE("codec: pair tuple optional and variant", "[codec]") {
    CHECK(round_trip(std::pair<int, std::string>{1, "one"}) ==
          std::pair<int, std::string>{1, "one"});
    CHECK(round_trip(std::tuple<>{}) == std::tuple<>{});
    CHECK(round_trip(std::tuple<int, std::string, double>{1, "two", 3.0}) ==
          std::tuple<int, std::string, double>{1, "two", 3.0});
    CHECK(round_trip(std::optional<std::string>{}) == std::nullopt);
    CHECK(round_trip(std::optional<std::string>{"here"}) == std::optional<std::string>{"here"});
    CHECK(round_trip(std::optional<int>{5}) == std::optional<int>{5});
    using v = std::variant<int, std::string, std::vector<double>>;
    CHECK(round_trip(v{7}) == v{7});
    CHECK(round_trip(v{std::string("s")}) == v{std::string("s")});
    CHECK(round_trip(v{std::vector<double>{1.5}}) == v{std::vector<double>{1.5}});
    CHECK(round_trip(v{std::in_place_index<1>, "idx"}).index() == 1);
}

TEST_CASE("codec: associative containers", "[codec]") {
    const std::map<std::string, int> m{{"a", 1}, {"b", 2}};
    CHECK(round_trip(m) == m);
    const std::unordered_map<int, std::string> um{{1, "x"}, {2, "y"}, {3, ""}};
    CHECK(round_trip(um) == um);
    const std::set<std::string> s{"p", "q"};
    CHECK(round_trip(s) == s);
    const std::unordered_set<int> us{5, 6, 7};
    CHECK(round_trip(us) == us);
}

TEST_CASE("codec: nested types and a user type", "[codec]") {
    using nested =
        std::map<std::string, std::vector<std::optional<std::pair<int, std::variant<int, point>>>>>;
    nested value;
    value["first"].push_back(std::nullopt);
    value["first"].push_back(std::pair<int, std::variant<int, point>>{1, point{"p", 1.5, -2}});
    value["second"] = {};
    value["third"].push_back(std::pair<int, std::variant<int, point>>{2, 9});
    CHECK(round_trip(value) == value);
    CHECK(round_trip(point{"origin", 0, 0}) == point{"origin", 0, 0});
    const std::vector<point> points{{"a", 1, 2}, {"b", 3, 4}};
    CHECK(round_trip(points) == points);
    const std::tuple<point, std::array<point, 1>> tp{point{"t", 1, 1}, {point{"u", 2, 2}}};
    CHECK(round_trip(tp) == tp);
}

TEST_CASE("codec: malformed input throws serialization_error and never reads past the end",
          "[codec]") {
    unblock::byte_writer out;
    unblock::encode(out, std::string("hello"));
    SECTION("truncated") {
        for (std::size_t cut = 0; cut < out.size(); ++cut) {
            unblock::byte_reader in(out.buffer().data(), cut);
            CHECK_THROWS_AS(unblock::decode<std::string>(in), unblock::serialization_error);
        }
    }
    SECTION("a corrupt length does not allocate it") {
        unblock::byte_writer bad;
        bad.write_size(std::size_t{1} << 60);
        unblock::byte_reader in(bad.buffer().data(), bad.size());
        CHECK_THROWS_AS(unblock::decode<std::vector<std::uint64_t>>(in),
                        unblock::serialization_error);
    }
    SECTION("a variant index out of range") {
        unblock::byte_writer bad;
        bad.write_size(5);
        bad.write_raw(1);
        unblock::byte_reader in(bad.buffer().data(), bad.size());
        CHECK_THROWS_AS((unblock::decode<std::variant<int, char>>(in)),
                        unblock::serialization_error);
    }
    SECTION("a bool byte other than 0 or 1 (found by fuzz_codec)") {
        unblock::byte_writer bad;
        bad.write_raw(std::uint8_t{4});
        unblock::byte_reader in(bad.buffer().data(), bad.size());
        CHECK_THROWS_AS((unblock::decode<std::tuple<bool>>(in)), unblock::serialization_error);
    }
    SECTION("a valueless variant cannot be encoded") {
        std::variant<int, throws_on_move> v;
        try {
            v.emplace<throws_on_move>(throws_on_move{});
        } catch (int) {
        }
        REQUIRE(v.valueless_by_exception());
        unblock::byte_writer sink;
        CHECK_THROWS_AS(unblock::encode(sink, v), unblock::serialization_error);
    }
}
