/// \file codec.hpp
/// `codec<T>`: how a value crosses the process boundary of a
/// `process_pool_executor`.
///
/// A codec turns a `T` into bytes appended to a `byte_writer` and reads it back
/// from a `byte_reader`. Both ends run the same program image on the same
/// machine, so the wire format is native (host byte order, native sizes); it
/// is not meant for storage or the network.
///
/// Built in: trivially copyable types that hold no pointers, `std::string`
/// (any `basic_string` of trivially copyable characters), `std::vector`,
/// `std::array`, `std::pair`, `std::tuple`, `std::optional`, `std::variant`,
/// `std::map`, `std::unordered_map`, `std::set`, `std::unordered_set`, nested
/// in any way. Add your own type by specializing `unblock::codec`:
///
///     template <> struct unblock::codec<point> {
///         static void encode(byte_writer& out, const point& p) {
///             unblock::encode(out, p.name);
///             unblock::encode(out, p.x);
///         }
///         static point decode(byte_reader& in) {
///             auto name = unblock::decode<std::string>(in);  // same order
///             return point{std::move(name), unblock::decode<double>(in)};
///         }
///     };
///
/// `decode` throws `serialization_error` on truncated or malformed input; an
/// `encode` or `decode` may throw it too to refuse a value.
#pragma once

#include "detail/code_address.hpp"
#include "detail/integer_cast.hpp"
#include "errors.hpp"

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace unblock {

/// Growable byte buffer that `codec<T>::encode` appends to.
///
/// Not thread-safe. Moving out the buffer with `release()` leaves it empty.
class byte_writer {
public:
    byte_writer() = default;

    /// Appends `size` bytes from `data`.
    void write(const void* data, std::size_t size) {
        if (size == 0) {
            return;
        }
        // resize + memcpy rather than insert: g++ 12 -O3 reports a false
        // -Wstringop-overflow for vector<std::byte>::insert from a pointer range.
        const std::size_t old = m_buffer.size();
        m_buffer.resize(old + size);
        std::memcpy(m_buffer.data() + old, data, size);
    }

    /// Appends the object representation of a trivially copyable value.
    template <class Value>
        requires std::is_trivially_copyable_v<Value>
    void write_raw(const Value& value) { write(&value, sizeof(Value)); }

    /// Appends an element or byte count (always 64 bits).
    void write_size(std::size_t n) { write_raw(detail::integer_cast<std::uint64_t>(n)); }

    /// Bytes written so far.
    [[nodiscard]] std::size_t size() const noexcept { return m_buffer.size(); }

    /// The bytes written so far.
    [[nodiscard]] std::vector<std::byte>& buffer() noexcept { return m_buffer; }

    /// Takes the bytes out, leaving the writer empty.
    [[nodiscard]] std::vector<std::byte> release() noexcept { return std::move(m_buffer); }

private:
    std::vector<std::byte> m_buffer;
};

/// Read cursor over bytes produced by a `byte_writer`; `codec<T>::decode`
/// consumes from it.
///
/// Does not own the bytes. Every read checks bounds and throws
/// `serialization_error` instead of reading past the end.
class byte_reader {
public:
    byte_reader(const std::byte* data, std::size_t size) noexcept
        : m_pos(data), m_end(data + size) {}
    explicit byte_reader(std::span<const std::byte> bytes) noexcept
        : byte_reader(bytes.data(), bytes.size()) {}

    /// Copies the next `size` bytes to `out`.
    void read(void* out, std::size_t size) {
        require(size);
        if (size != 0) {
            std::memcpy(out, m_pos, size);
        }
        m_pos += size;
    }

    /// Reads a trivially copyable value written by `byte_writer::write_raw`.
    template <class Value>
        requires std::is_trivially_copyable_v<Value>
    [[nodiscard]] Value read_raw() {
        std::array<std::byte, sizeof(Value)> bytes;
        read(bytes.data(), sizeof(Value));
        return std::bit_cast<Value>(bytes);
    }

    /// Reads a count written by `write_size`; throws `serialization_error` if
    /// `count * min_element_bytes` exceeds what is left (a corrupt count).
    [[nodiscard]] std::size_t read_size(std::size_t min_element_bytes = 0) {
        const auto n = read_raw<std::uint64_t>();
        if (min_element_bytes != 0 && n > remaining() / min_element_bytes) {
            throw serialization_error("unblock::codec: a decoded length (" + std::to_string(n) +
                                      ") exceeds the remaining input; encode and decode disagree");
        }
        return static_cast<std::size_t>(n);
    }

    /// Returns a view of the next `size` bytes and skips them.
    [[nodiscard]] std::span<const std::byte> take(std::size_t size) {
        require(size);
        std::span<const std::byte> out(m_pos, size);
        m_pos += size;
        return out;
    }

    /// Bytes not read yet.
    [[nodiscard]] std::size_t remaining() const noexcept {
        return static_cast<std::size_t>(m_end - m_pos);
    }

private:
    void require(std::size_t size) const {
        if (size > remaining()) {
            throw serialization_error(
                "unblock::codec: truncated input (needed " + std::to_string(size) + " bytes, " +
                std::to_string(remaining()) + " left); encode and decode disagree");
        }
    }

    const std::byte* m_pos;
    const std::byte* m_end;
};

/// The wire format of `T`. Unspecialized: `T` cannot cross a process boundary.
///
/// A specialization provides
/// `static void encode(byte_writer&, const T&)` and
/// `static T decode(byte_reader&)`; `decode` reads exactly what `encode` wrote.
template <class Value>
struct codec {};

/// A type with a usable `codec<T>`.
template <class Value>
concept codable = requires(byte_writer& out, const Value& value, byte_reader& in) {
    codec<Value>::encode(out, value);
    { codec<Value>::decode(in) } -> std::same_as<Value>;
};

/// Appends `value` to `out` with `codec<T>`.
template <codable Value>
void encode(byte_writer& out, const Value& value) {
    codec<Value>::encode(out, value);
}

/// Reads a `T` from `in` with `codec<T>`.
template <codable Value>
[[nodiscard]] Value decode(byte_reader& in) {
    return codec<Value>::decode(in);
}

namespace detail {

template <class Value>
inline constexpr bool codec_is_view = false;
template <class Char, class Tr>
inline constexpr bool codec_is_view<std::basic_string_view<Char, Tr>> = true;
template <class Value, std::size_t Extent>
inline constexpr bool codec_is_view<std::span<Value, Extent>> = true;
template <class Value>
inline constexpr bool codec_is_view<std::reference_wrapper<Value>> = true;

/// Trivially copyable and safe to copy byte-wise into another process: no
/// pointers and no views. (Function pointers have their own codec below: the
/// other process may run the image at another address.)
template <class Value>
concept codec_raw = std::is_trivially_copyable_v<Value> && !std::is_member_pointer_v<Value> &&
                    !codec_is_view<Value> && !std::is_pointer_v<Value>;

/// A pointer to a function.
template <class Value>
concept codec_function_pointer =
    std::is_pointer_v<Value> && std::is_function_v<std::remove_pointer_t<Value>>;

/// Encodes a contiguous run of elements: one copy when they are raw.
template <class Value>
void codec_encode_run(byte_writer& out, const Value* data, std::size_t n) {
    if constexpr (codec_raw<Value>) {
        out.write(data, n * sizeof(Value));
    } else {
        for (std::size_t i = 0; i != n; ++i) {
            codec<Value>::encode(out, data[i]);
        }
    }
}

} // namespace detail

/// Raw bytes of trivially copyable pointer-free types.
template <class Value>
    requires detail::codec_raw<Value>
struct codec<Value> {
    static void encode(byte_writer& out, const Value& value) { out.write_raw(value); }
    static Value decode(byte_reader& in) {
        if constexpr (std::is_same_v<Value, bool>) {
            // Any byte but 0 or 1 would be an invalid bool (undefined behaviour).
            const auto byte = in.read_raw<std::uint8_t>();
            if (byte > 1) {
                throw serialization_error("unblock::codec: a bool is encoded as 0 or 1, not " +
                                          std::to_string(byte) + "; encode and decode disagree");
            }
            return byte == 1;
        } else {
            return in.read_raw<Value>();
        }
    }
};

namespace detail {

/// How a code address is tagged on the wire (code_address.hpp).
enum class codec_code_tag : std::uint8_t { main_image = 0, library = 1, null = 2 };

/// Appends code address `address` as (module, offset from its load address);
/// throws `serialization_error` if no loaded module's code holds it.
inline void codec_write_code_address(byte_writer& out, std::uintptr_t address) {
    if (address == 0) {
        out.write_raw(codec_code_tag::null);
        return;
    }
    const auto& image = process_main_image::get();
    if (image.holds(address)) {
        out.write_raw(codec_code_tag::main_image);
        out.write_raw(std::uint64_t{address - image.bias});
        return;
    }
    const process_code_module module = process_find_module(address);
    if (!module.found || module.name == "?") {
        throw serialization_error("unblock: a function pointer does not point into the code of "
                                  "the executable or of a named shared library; only such "
                                  "functions can be sent to another process");
    }
    out.write_raw(codec_code_tag::library);
    out.write_size(module.name.size());
    out.write(module.name.data(), module.name.size());
    out.write_raw(std::uint64_t{address - module.bias});
}

/// Reads a code address written by `codec_write_code_address` and checks that
/// it is code of the same module in this process (0 for a null pointer).
/// Throws `serialization_error` otherwise.
[[nodiscard]] inline std::uintptr_t codec_read_code_address(byte_reader& in) {
    const auto tag = in.read_raw<codec_code_tag>();
    switch (tag) {
        case codec_code_tag::null: return 0;
        case codec_code_tag::main_image:
            return process_resolve_code({}, in.read_raw<std::uint64_t>());
        case codec_code_tag::library: {
            const std::size_t n = in.read_size(1);
            std::string name(n, '\0');
            in.read(name.data(), n);
            return process_resolve_code(name, in.read_raw<std::uint64_t>());
        }
    }
    throw serialization_error("unblock: malformed function address (unknown module tag)");
}

} // namespace detail

/// Function pointers: the module and the offset from its load address, checked
/// on arrival to be code of the same module (detail/code_address.hpp).
template <class Value>
    requires detail::codec_function_pointer<Value>
struct codec<Value> {
    static void encode(byte_writer& out, const Value& value) {
        detail::codec_write_code_address(out, reinterpret_cast<std::uintptr_t>(value));
    }
    static Value decode(byte_reader& in) {
        return reinterpret_cast<Value>(detail::codec_read_code_address(in));
    }
};

/// `std::basic_string` of trivially copyable characters: length, then the characters.
template <class Char, class Tr, class Alloc>
    requires detail::codec_raw<Char>
struct codec<std::basic_string<Char, Tr, Alloc>> {
    using type = std::basic_string<Char, Tr, Alloc>;
    static void encode(byte_writer& out, const type& s) {
        out.write_size(s.size());
        out.write(s.data(), s.size() * sizeof(Char));
    }
    static type decode(byte_reader& in) {
        const std::size_t n = in.read_size(sizeof(Char));
        type s(n, Char{});
        in.read(s.data(), n * sizeof(Char));
        return s;
    }
};

/// `std::vector`: count, then the elements (one copy when they are raw).
template <class Value, class Alloc>
    requires codable<Value>
struct codec<std::vector<Value, Alloc>> {
    using type = std::vector<Value, Alloc>;
    static void encode(byte_writer& out, const type& v) {
        if constexpr (std::is_same_v<Value, bool>) {
            out.write_size(v.size());
            for (const bool b : v) {
                out.write_raw(static_cast<std::uint8_t>(b));
            }
        } else {
            out.write_size(v.size());
            detail::codec_encode_run(out, v.data(), v.size());
        }
    }
    static type decode(byte_reader& in) {
        if constexpr (detail::codec_raw<Value> && !std::is_same_v<Value, bool>) {
            const std::size_t n = in.read_size(sizeof(Value));
            type v(n);
            in.read(v.data(), n * sizeof(Value));
            return v;
        } else {
            const std::size_t n = in.read_size();
            type v;
            v.reserve(n < in.remaining() ? n : in.remaining());
            for (std::size_t i = 0; i != n; ++i) {
                v.push_back(codec<Value>::decode(in));
            }
            return v;
        }
    }
};

/// `std::array`: the elements (one copy when they are raw).
template <class Value, std::size_t Extent>
    requires codable<Value>
struct codec<std::array<Value, Extent>> {
    using type = std::array<Value, Extent>;
    static void encode(byte_writer& out, const type& a) {
        detail::codec_encode_run(out, a.data(), Extent);
    }
    static type decode(byte_reader& in) {
        return decode_all(in, std::make_index_sequence<Extent>{});
    }

private:
    template <std::size_t... Index>
    static type decode_all(byte_reader& in, std::index_sequence<Index...>) {
        // Braced initialisation evaluates left to right.
        return type{{(static_cast<void>(Index), codec<Value>::decode(in))...}};
    }
};

/// `std::pair`: first, then second.
template <class First, class Second>
    requires codable<First> && codable<Second>
struct codec<std::pair<First, Second>> {
    static void encode(byte_writer& out, const std::pair<First, Second>& p) {
        codec<First>::encode(out, p.first);
        codec<Second>::encode(out, p.second);
    }
    static std::pair<First, Second> decode(byte_reader& in) {
        First first = codec<First>::decode(in);
        return std::pair<First, Second>(std::move(first), codec<Second>::decode(in));
    }
};

/// `std::tuple`: the elements in order.
template <class... Ts>
    requires(codable<Ts>&&...)
struct codec<std::tuple<Ts...>> {
    static void encode(byte_writer& out, const std::tuple<Ts...>& t) {
        std::apply([&](const Ts&... items) { (codec<Ts>::encode(out, items), ...); }, t);
    }
    static std::tuple<Ts...> decode(byte_reader& in) {
        static_cast<void>(in);                              // unused for std::tuple<>
        return std::tuple<Ts...>{codec<Ts>::decode(in)...}; // braces: left to right
    }
};

/// `std::optional`: a presence byte, then the value.
template <class Value>
    requires codable<Value>
struct codec<std::optional<Value>> {
    static void encode(byte_writer& out, const std::optional<Value>& o) {
        out.write_raw(static_cast<std::uint8_t>(o.has_value()));
        if (o) {
            codec<Value>::encode(out, *o);
        }
    }
    static std::optional<Value> decode(byte_reader& in) {
        if (in.read_raw<std::uint8_t>() == 0) {
            return std::nullopt;
        }
        return std::optional<Value>(codec<Value>::decode(in));
    }
};

/// `std::variant`: the alternative's index, then its value.
template <class... Ts>
    requires(codable<Ts>&&...)
struct codec<std::variant<Ts...>> {
    using type = std::variant<Ts...>;
    static void encode(byte_writer& out, const type& v) {
        if (v.valueless_by_exception()) {
            throw serialization_error("unblock::codec: cannot encode a valueless std::variant");
        }
        out.write_size(v.index());
        std::visit([&](const auto& item) { unblock::encode(out, item); }, v);
    }
    static type decode(byte_reader& in) {
        const std::size_t index = in.read_size();
        if (index >= sizeof...(Ts)) {
            throw serialization_error("unblock::codec: std::variant index out of range");
        }
        return decode_at(index, in, std::index_sequence_for<Ts...>{});
    }

private:
    template <std::size_t Index>
    static type decode_one(byte_reader& in) {
        using alt = std::variant_alternative_t<Index, type>;
        return type(std::in_place_index<Index>, codec<alt>::decode(in));
    }
    template <std::size_t... Index>
    static type decode_at(std::size_t index, byte_reader& in, std::index_sequence<Index...>) {
        using decoder = type (*)(byte_reader&);
        static constexpr decoder table[] = {&decode_one<Index>...};
        return table[index](in);
    }
};

namespace detail {

/// Shared codec of the standard associative containers: count, then the
/// items (key, then mapped value when `Mapped` is not void).
template <class Container, class Key, class Mapped>
struct codec_associative {
    static void encode(byte_writer& out, const Container& c) {
        out.write_size(c.size());
        for (const auto& item : c) {
            if constexpr (std::is_void_v<Mapped>) {
                codec<Key>::encode(out, item);
            } else {
                codec<Key>::encode(out, item.first);
                codec<Mapped>::encode(out, item.second);
            }
        }
    }
    static Container decode(byte_reader& in) {
        const std::size_t n = in.read_size();
        Container c;
        for (std::size_t i = 0; i != n; ++i) {
            if constexpr (std::is_void_v<Mapped>) {
                c.insert(c.end(), codec<Key>::decode(in));
            } else {
                Key key = codec<Key>::decode(in);
                c.emplace_hint(c.end(), std::move(key), codec<Mapped>::decode(in));
            }
        }
        return c;
    }
};

} // namespace detail

/// `std::map`: count, then (key, value) pairs in order.
template <class Key, class Mapped, class Compare, class Alloc>
    requires codable<Key> && codable<Mapped>
struct codec<std::map<Key, Mapped, Compare, Alloc>>
    : detail::codec_associative<std::map<Key, Mapped, Compare, Alloc>, Key, Mapped> {
};

/// `std::unordered_map`: count, then (key, value) pairs.
template <class Key, class Mapped, class Hash, class KeyEqual, class Alloc>
    requires codable<Key> && codable<Mapped>
struct codec<std::unordered_map<Key, Mapped, Hash, KeyEqual, Alloc>>
    : detail::codec_associative<std::unordered_map<Key, Mapped, Hash, KeyEqual, Alloc>, Key,
                                Mapped> {
};

/// `std::set`: count, then the keys in order.
template <class Key, class Compare, class Alloc>
    requires codable<Key>
struct codec<std::set<Key, Compare, Alloc>>
    : detail::codec_associative<std::set<Key, Compare, Alloc>, Key, void> {
};

/// `std::unordered_set`: count, then the keys.
template <class Key, class Hash, class KeyEqual, class Alloc>
    requires codable<Key>
struct codec<std::unordered_set<Key, Hash, KeyEqual, Alloc>>
    : detail::codec_associative<std::unordered_set<Key, Hash, KeyEqual, Alloc>, Key, void> {
};

} // namespace unblock
