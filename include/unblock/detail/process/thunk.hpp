/// \file detail/process/thunk.hpp
/// What may be sent to a process pool, and the code that runs it in a worker.
///
/// A call is identified by two code addresses: the `process_thunk`
/// instantiation for its function type (decodes the arguments, calls, encodes
/// the result) and the function pointer itself. Both travel as offsets from
/// their module's load address (code_address.hpp), so they are valid in a
/// worker started by `exec` at another address too. The worker accepts a
/// thunk only if it is one the image registered (every instantiation
/// registers itself from a static initializer), and a function pointer only
/// if it is code of the same module.
#pragma once

#include "../../codec.hpp"
#include "../../errors.hpp"
#include "../code_address.hpp"
#include "wire.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace unblock::detail {

/// A call request inside a worker: its bytes and a cursor over them.
struct process_request {
    std::vector<std::byte> storage;
    byte_reader reader{nullptr, 0};
};

/// Runs one call in a worker: decodes the function pointer and arguments from
/// `request.reader`, calls, appends a `process_frame::value` record to `out`.
/// The callable's exceptions propagate; codec failures become `serialization_error`.
using process_thunk = void (*)(process_request& request, byte_writer& out);

/// Appends thunk `thunk` as (module, offset).
inline void process_write_thunk(byte_writer& out, process_thunk thunk) {
    codec_write_code_address(out, reinterpret_cast<std::uintptr_t>(thunk));
}

/// Reads a thunk written by `process_write_thunk`; throws
/// `serialization_error` unless it is a thunk this image registered.
[[nodiscard]] inline process_thunk process_read_thunk(byte_reader& in) {
    const std::uintptr_t address = codec_read_code_address(in);
    if (address == 0 || !process_code_registry::instance().contains(address)) {
        throw serialization_error(
            "unblock: the call names an entry point that is not one of this program's "
            "(unknown thunk offset); are both processes running the same binary?");
    }
    return reinterpret_cast<process_thunk>(address);
}

/// Facts about a plain function pointer type; `valid` is false for anything else.
template <class Fn>
struct process_fn_info {
    static constexpr bool valid = false;
    using result_type = void;
};

template <class Result, class... Params>
struct process_fn_info<Result (*)(Params...)> {
    static constexpr bool valid = true;
    using pointer = Result (*)(Params...);
    using result_type = std::remove_cvref_t<Result>;

    /// `f(args...)` compiles with each argument converted to its parameter's value type.
    template <class... Given>
    static constexpr bool callable_with() {
        if constexpr (sizeof...(Given) != sizeof...(Params)) {
            return false;
        } else {
            return (std::is_convertible_v<Given&&, std::decay_t<Params>> && ...);
        }
    }
    static constexpr bool arguments_codable = (codable<std::decay_t<Params>> && ...);
    static constexpr bool result_codable = std::is_void_v<Result> || codable<result_type>;

    /// Encodes `args` as the parameters' value types (no copy when they already are).
    template <class... Given>
    static void encode_arguments(byte_writer& out, Given&&... args) {
        (encode_one<std::decay_t<Params>>(out, std::forward<Given>(args)), ...);
    }

    /// The worker side: see `process_thunk`.
    static void run(process_request& request, byte_writer& out) {
        const auto fn = codec<pointer>::decode(request.reader);
        if (fn == nullptr) {
            throw serialization_error("unblock::process_pool_executor: the function pointer "
                                      "sent is null");
        }
        std::optional<std::tuple<std::decay_t<Params>...>> args;
        try {
            // Braced initialisation decodes left to right.
            args.emplace(std::tuple<std::decay_t<Params>...>{
                decode<std::decay_t<Params>>(request.reader)...});
            if (request.reader.remaining() != 0) {
                throw serialization_error("unblock::process_pool_executor: the worker did not "
                                          "consume all argument bytes; a codec's encode and decode "
                                          "disagree");
            }
        } catch (...) {
            process_rethrow_as_serialization("decoding the arguments in the worker failed");
        }
        request.storage = {}; // free a large request before the call runs
        out.write_raw(process_frame::value);
        auto call = [&](auto&... a) -> Result { return fn(static_cast<Params&&>(a)...); };
        if constexpr (std::is_void_v<Result>) {
            std::apply(call, *args);
        } else {
            auto&& result = std::apply(call, *args);
            try {
                codec<result_type>::encode(out, result);
            } catch (...) {
                process_rethrow_as_serialization("encoding the result in the worker failed");
            }
        }
    }

    /// Registers `run` as a thunk workers accept (see the file comment); a
    /// sender odr-uses it, so every thunk that can be sent is registered
    /// before `main` in every process running the image.
    static inline const bool registered =
        process_code_registry::instance().add(reinterpret_cast<std::uintptr_t>(&run));

private:
    template <class Value, class Given>
    static void encode_one(byte_writer& out, Given&& arg) {
        if constexpr (std::is_same_v<std::remove_cvref_t<Given>, Value>) {
            codec<Value>::encode(out, arg);
        } else {
            const Value converted = std::forward<Given>(arg);
            codec<Value>::encode(out, converted);
        }
    }
};

template <class Result, class... Params>
struct process_fn_info<Result (*)(Params...) noexcept> : process_fn_info<Result (*)(Params...)> {};

/// The function pointer type a lambda's non-template `operator()` converts to.
template <class Member>
struct process_call_operator {
    using pointer = void;
};
template <class Class, class Result, class... Params>
struct process_call_operator<Result (Class::*)(Params...)> {
    using pointer = Result (*)(Params...);
};
template <class Class, class Result, class... Params>
struct process_call_operator<Result (Class::*)(Params...) const> {
    using pointer = Result (*)(Params...);
};
template <class Class, class Result, class... Params>
struct process_call_operator<Result (Class::*)(Params...) noexcept> {
    using pointer = Result (*)(Params...);
};
template <class Class, class Result, class... Params>
struct process_call_operator<Result (Class::*)(Params...) const noexcept> {
    using pointer = Result (*)(Params...);
};

/// How a callable of type `F`, called with `Args`, is sent to a worker.
///
/// `pointer` is the plain function pointer type it is sent as, or `void` when
/// `F` is neither a function pointer nor a capture-less lambda.
template <class Function, class... Args>
struct process_callable {
    using decayed = std::decay_t<Function>;

    static constexpr auto pick() {
        if constexpr (std::is_pointer_v<decayed> &&
                      std::is_function_v<std::remove_pointer_t<decayed>>) {
            using fn_info = process_fn_info<decayed>;
            if constexpr (fn_info::valid) {
                return std::type_identity<typename fn_info::pointer>{};
            } else {
                return std::type_identity<void>{}; // e.g. C variadic functions
            }
        } else if constexpr (std::is_class_v<decayed> && std::is_empty_v<decayed> &&
                             requires { &decayed::operator(); }) {
            using member_pointer =
                typename process_call_operator<decltype(&decayed::operator())>::pointer;
            if constexpr (!std::is_void_v<member_pointer> &&
                          std::is_convertible_v<decayed, member_pointer>) {
                return std::type_identity<member_pointer>{};
            } else {
                return std::type_identity<void>{};
            }
        } else if constexpr (std::is_class_v<decayed> && std::is_empty_v<decayed> &&
                             std::is_invocable_v<const decayed&, std::decay_t<Args>...>) {
            // A generic capture-less lambda taking its parameters by value.
            using result = std::invoke_result_t<const decayed&, std::decay_t<Args>...>;
            using generic_pointer = result (*)(std::decay_t<Args>...);
            if constexpr (std::is_convertible_v<decayed, generic_pointer>) {
                return std::type_identity<generic_pointer>{};
            } else {
                return std::type_identity<void>{};
            }
        } else {
            return std::type_identity<void>{};
        }
    }

    using pointer = typename decltype(pick())::type;
    using info = process_fn_info<std::conditional_t<std::is_void_v<pointer>, int, pointer>>;

    static constexpr bool is_function = !std::is_void_v<pointer>;
    static constexpr bool arguments_match = [] {
        if constexpr (is_function) {
            return info::template callable_with<Args...>();
        } else {
            return false;
        }
    }();
    static constexpr bool arguments_codable = [] {
        if constexpr (is_function) {
            return info::arguments_codable;
        } else {
            return false;
        }
    }();
    static constexpr bool result_codable = [] {
        if constexpr (is_function) {
            return info::result_codable;
        } else {
            return false;
        }
    }();
    static constexpr bool valid =
        is_function && arguments_match && arguments_codable && result_codable;

    /// The result type of the call (`void` when `valid` is false).
    using result_type = std::conditional_t<valid, typename info::result_type, void>;
};

} // namespace unblock::detail
