/// \file detail/code_address.hpp
/// Function identity across processes: a code address travels as the module
/// that holds it and its offset from that module's load address, never as a
/// raw pointer.
///
/// Why: a worker started by `exec` (start_method::spawn), or an MPI rank, runs
/// the same program image at another load address (ASLR), so a raw address
/// from the parent would point anywhere. The offset from the image base is the
/// same in every process that runs the same binary.
///
/// Validation on arrival, so a bad offset is a `serialization_error`, never a
/// jump to a wrong address:
/// - every address must fall inside an executable segment (PT_LOAD with
///   PF_X) of its module, found with `dl_iterate_phdr`;
/// - the entry a worker jumps to first, the per-signature *thunk* that
///   decodes the arguments (thunk.hpp), must moreover be exactly one of the
///   thunks the program instantiated: each registers its address in
///   `process_code_registry` from a static initializer, which runs in every
///   process of the image before `main`. A thunk knows its function type, so
///   the function pointer it then calls is at least code of the right image.
/// A function of a shared library travels as the library's path plus the
/// offset; the worker resolves it only if it loaded that library too
/// (one `dlopen`ed after a worker started is refused with a message).
#pragma once

#include "../errors.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <elf.h>
#include <link.h>

namespace unblock::detail {

/// A module (the executable or a shared library) whose code holds an address.
struct process_code_module {
    std::string name;        ///< "" for the main executable
    std::uintptr_t bias = 0; ///< its load address (dlpi_addr)
    bool found = false;      ///< whether an executable segment holds the address
};

/// Whether `address` lies in an executable PT_LOAD segment of `info`'s module.
[[nodiscard]] inline bool process_in_code(const dl_phdr_info& info,
                                          std::uintptr_t address) noexcept {
    for (ElfW(Half) i = 0; i != info.dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info.dlpi_phdr[i];
        if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) {
            continue;
        }
        const std::uintptr_t begin = info.dlpi_addr + segment.p_vaddr;
        if (address >= begin && address - begin < segment.p_memsz) {
            return true;
        }
    }
    return false;
}

/// The main executable's load address and code range, computed once (the
/// fast path: almost every callable lives there).
struct process_main_image {
    std::uintptr_t bias = 0;
    std::uintptr_t code_begin = ~std::uintptr_t{0};
    std::uintptr_t code_end = 0;

    [[nodiscard]] bool holds(std::uintptr_t address) const noexcept {
        return address >= code_begin && address < code_end;
    }

    [[nodiscard]] static const process_main_image& get() noexcept {
        static const process_main_image image = [] {
            process_main_image result;
            // The first module dl_iterate_phdr reports is the main program.
            dl_iterate_phdr(
                [](dl_phdr_info* info, std::size_t, void* data) -> int {
                    auto& out = *static_cast<process_main_image*>(data);
                    out.bias = info->dlpi_addr;
                    for (ElfW(Half) i = 0; i != info->dlpi_phnum; ++i) {
                        const ElfW(Phdr)& segment = info->dlpi_phdr[i];
                        if (segment.p_type == PT_LOAD && (segment.p_flags & PF_X) != 0) {
                            const std::uintptr_t begin = info->dlpi_addr + segment.p_vaddr;
                            out.code_begin = std::min(out.code_begin, begin);
                            out.code_end = std::max(out.code_end, begin + segment.p_memsz);
                        }
                    }
                    return 1;
                },
                &result);
            return result;
        }();
        return image;
    }
};

/// The module whose code holds `address` (slow path: walks the loaded modules).
[[nodiscard]] inline process_code_module process_find_module(std::uintptr_t address) {
    struct search {
        std::uintptr_t address;
        bool first = true;
        process_code_module module;
    } s{address, true, {}};
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
            auto& state = *static_cast<search*>(data);
            const bool main_program = std::exchange(state.first, false);
            if (!process_in_code(*info, state.address)) {
                return 0;
            }
            state.module.found = true;
            state.module.bias = info->dlpi_addr;
            state.module.name = main_program || info->dlpi_name == nullptr ? "" : info->dlpi_name;
            if (!main_program && state.module.name.empty()) {
                state.module.name = "?"; // the vDSO or an anonymous module: not addressable
            }
            return 1;
        },
        &s);
    return s.module;
}

/// `offset` from the load address of module `name` ("" = the main
/// executable), checked to be code of that module in this process. Throws
/// `serialization_error` otherwise.
[[nodiscard]] inline std::uintptr_t process_resolve_code(std::string_view name,
                                                         std::uint64_t offset) {
    if (name.empty()) {
        const auto& image = process_main_image::get();
        const std::uintptr_t address = image.bias + offset;
        if (!image.holds(address) || address < image.bias) {
            throw serialization_error(
                "unblock: a function offset (" + std::to_string(offset) +
                ") is not in the code of this executable; are both processes running the same "
                "binary?");
        }
        return address;
    }
    struct search {
        std::string_view name;
        std::uint64_t offset;
        bool loaded = false;
        std::uintptr_t address = 0;
    } s{name, offset};
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
            auto& state = *static_cast<search*>(data);
            if (info->dlpi_name == nullptr || state.name != info->dlpi_name) {
                return 0;
            }
            state.loaded = true;
            const std::uintptr_t address = info->dlpi_addr + state.offset;
            if (process_in_code(*info, address)) {
                state.address = address;
            }
            return 1;
        },
        &s);
    if (!s.loaded) {
        throw serialization_error("unblock: the function lives in the shared library " +
                                  std::string(name) +
                                  ", which this worker process has not loaded (was it dlopen'ed "
                                  "after the worker started?); call it through a function of "
                                  "the program, or load the library in an initializer");
    }
    if (s.address == 0) {
        throw serialization_error("unblock: a function offset (" + std::to_string(offset) +
                                  ") is not in the code of " + std::string(name) +
                                  " in this process; are both processes using the same build?");
    }
    return s.address;
}

/// The thunks (per-signature worker entries) of this image: the only addresses
/// a worker jumps to before it has validated anything else. Filled by static
/// initializers (thunk.hpp), so complete before `main` in every process that
/// runs the image. Thread-safe.
class process_code_registry {
public:
    [[nodiscard]] static process_code_registry& instance() {
        static process_code_registry registry;
        return registry;
    }

    /// Records `address`; returns true (to initialize a static flag).
    bool add(std::uintptr_t address) {
        std::lock_guard lock(m_mutex);
        m_addresses.insert(address);
        return true;
    }

    [[nodiscard]] bool contains(std::uintptr_t address) const {
        std::lock_guard lock(m_mutex);
        return m_addresses.count(address) != 0;
    }

private:
    mutable std::mutex m_mutex;
    std::set<std::uintptr_t> m_addresses; // guarded by m_mutex
};

} // namespace unblock::detail
