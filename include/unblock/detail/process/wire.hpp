/// \file detail/process/wire.hpp
/// The frames exchanged between a process pool and its workers, and how an
/// exception crosses the process boundary.
///
/// Every frame is a header (a 64-bit magic number, a 64-bit payload length)
/// followed by the payload. The magic makes bytes that something else wrote
/// to a pool socket a protocol error instead of a length to wait for.
/// - parent -> worker (a call): the `process_thunk` and the callable's
///   function pointer, each as (module, offset) (code_address.hpp), then the
///   encoded arguments.
/// - worker -> parent: one `process_frame` byte, then its data.
#pragma once

#include "../../codec.hpp"
#include "../../errors.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define UNBLOCK_PROCESS_HAS_CXXABI 1
#endif

namespace unblock::detail {

/// Rethrows the exception being handled as a `serialization_error` with
/// context; a `serialization_error`, `std::bad_alloc` and a non-std exception
/// pass unchanged.
[[noreturn]] inline void process_rethrow_as_serialization(const char* context) {
    try {
        throw;
    } catch (const serialization_error&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw; // out of memory is not a codec fault
    } catch (const std::exception& e) {
        throw serialization_error(std::string("unblock::process_pool_executor: ") + context + ": " +
                                  e.what());
    }
}

/// First word of every frame header.
inline constexpr std::uint64_t process_frame_magic = 0x756e626c6f636b31; // "unblock1"

/// Bytes of a frame header (the magic, the payload length).
inline constexpr std::size_t process_header_bytes = 2 * sizeof(std::uint64_t);

/// Default of `process_pool_executor::options::max_frame_bytes`.
inline constexpr std::uint64_t process_default_max_frame = std::uint64_t{1} << 30;

/// The payload length of header `h` (process_header_bytes bytes), or false if
/// `h` is not a header of the pool's protocol.
[[nodiscard]] inline bool process_parse_header(const void* h, std::uint64_t& length) noexcept {
    std::uint64_t words[2];
    std::memcpy(words, h, sizeof words);
    length = words[1];
    return words[0] == process_frame_magic;
}

/// What a worker -> parent frame carries.
enum class process_frame : std::uint8_t {
    ready = 1,       ///< the worker ran its initializer and waits for calls
    init_failed = 2, ///< the initializer threw: an exception record follows
    value = 3,       ///< the call returned: the encoded result follows
    exception = 4,   ///< the call threw: an exception record follows
};

/// Exception classes that are rebuilt as themselves in the parent.
enum class process_exception_kind : std::uint8_t {
    other,
    std_exception,
    logic_error,
    invalid_argument,
    domain_error,
    length_error,
    out_of_range,
    runtime_error,
    range_error,
    overflow_error,
    underflow_error,
    bad_alloc,
    bad_array_new_length,
    serialization_error,
    not_std, ///< not derived from std::exception
};

/// The readable name of a mangled type name (as from `typeid(...).name()`).
[[nodiscard]] inline std::string process_demangle(const char* name) {
#ifdef UNBLOCK_PROCESS_HAS_CXXABI
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> readable(abi::__cxa_demangle(name, nullptr, nullptr,
                                                                        &status),
                                                    std::free);
    if (status == 0 && readable) {
        return readable.get();
    }
#endif
    return name;
}

/// The kind of an exception whose dynamic type is exactly a standard class.
[[nodiscard]] inline process_exception_kind process_classify(const std::type_info& t) noexcept {
    using kind = process_exception_kind;
    if (t == typeid(std::exception)) return kind::std_exception;
    if (t == typeid(std::logic_error)) return kind::logic_error;
    if (t == typeid(std::invalid_argument)) return kind::invalid_argument;
    if (t == typeid(std::domain_error)) return kind::domain_error;
    if (t == typeid(std::length_error)) return kind::length_error;
    if (t == typeid(std::out_of_range)) return kind::out_of_range;
    if (t == typeid(std::runtime_error)) return kind::runtime_error;
    if (t == typeid(std::range_error)) return kind::range_error;
    if (t == typeid(std::overflow_error)) return kind::overflow_error;
    if (t == typeid(std::underflow_error)) return kind::underflow_error;
    if (t == typeid(std::bad_alloc)) return kind::bad_alloc;
    if (t == typeid(std::bad_array_new_length)) return kind::bad_array_new_length;
    if (t == typeid(unblock::serialization_error)) return kind::serialization_error;
    return kind::other;
}

/// Appends a record of the exception being handled (call only inside a
/// `catch`): kind byte, demangled type name, `what()`.
inline void process_encode_current_exception(byte_writer& out) {
    auto kind = process_exception_kind::not_std;
    std::string type_name = "an unknown exception type";
    std::string what;
    try {
        throw;
    } catch (const std::exception& e) {
        kind = process_classify(typeid(e));
        type_name = process_demangle(typeid(e).name());
        what = e.what();
    } catch (...) {
#ifdef UNBLOCK_PROCESS_HAS_CXXABI
        if (const std::type_info* t = abi::__cxa_current_exception_type()) {
            type_name = process_demangle(t->name());
        }
#endif
        what = "(not derived from std::exception)";
    }
    out.write_raw(kind);
    encode(out, type_name);
    encode(out, what);
}

/// Rebuilds an exception record as an `exception_ptr`: the same type for the
/// standard classes, `remote_error` otherwise. Throws `serialization_error`
/// on a malformed record.
[[nodiscard]] inline std::exception_ptr process_decode_exception(byte_reader& in) {
    using kind = process_exception_kind;
    const auto k = in.read_raw<kind>();
    auto type_name = decode<std::string>(in);
    auto what = decode<std::string>(in);
    switch (k) {
        case kind::std_exception: return std::make_exception_ptr(std::exception());
        case kind::logic_error: return std::make_exception_ptr(std::logic_error(what));
        case kind::invalid_argument: return std::make_exception_ptr(std::invalid_argument(what));
        case kind::domain_error: return std::make_exception_ptr(std::domain_error(what));
        case kind::length_error: return std::make_exception_ptr(std::length_error(what));
        case kind::out_of_range: return std::make_exception_ptr(std::out_of_range(what));
        case kind::runtime_error: return std::make_exception_ptr(std::runtime_error(what));
        case kind::range_error: return std::make_exception_ptr(std::range_error(what));
        case kind::overflow_error: return std::make_exception_ptr(std::overflow_error(what));
        case kind::underflow_error: return std::make_exception_ptr(std::underflow_error(what));
        case kind::bad_alloc: return std::make_exception_ptr(std::bad_alloc());
        case kind::bad_array_new_length:
            return std::make_exception_ptr(std::bad_array_new_length());
        case kind::serialization_error: return std::make_exception_ptr(serialization_error(what));
        case kind::other:
        case kind::not_std: return std::make_exception_ptr(remote_error(type_name, what));
    }
    throw serialization_error("unblock::process_pool_executor: malformed exception record");
}

/// Reserves room for a frame header at the start of `out`.
inline void process_begin_frame(byte_writer& out) {
    out.write_raw(std::uint64_t{0});
    out.write_raw(std::uint64_t{0});
}

/// Payload bytes of a frame begun with `process_begin_frame`.
[[nodiscard]] inline std::uint64_t process_payload_bytes(const byte_writer& out) noexcept {
    return out.size() - process_header_bytes;
}

/// Fills in the header reserved by `process_begin_frame`.
inline void process_end_frame(byte_writer& out) {
    const std::uint64_t words[2] = {process_frame_magic, process_payload_bytes(out)};
    std::memcpy(out.buffer().data(), words, sizeof words);
}

} // namespace unblock::detail
