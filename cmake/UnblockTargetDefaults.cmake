# Build settings for unblock's OWN targets (tests, examples, benchmarks).
# Nothing in this file touches global state: every flag is attached to one
# target through unblock_target_defaults(), so users of the library never see
# our warnings or sanitizers.
#
# Provides
#   UNBLOCK_SANITIZE          cache: "" | address | thread
#   UNBLOCK_WARNINGS_AS_ERRORS cache: ON
#   UNBLOCK_TEST_LAUNCHER     cache: command prefix used to run test/example
#                             binaries (auto-detected, see below)
#   unblock_target_defaults(<target>)
#   unblock_launcher_args     list form of UNBLOCK_TEST_LAUNCHER
include_guard(GLOBAL)

set(UNBLOCK_SANITIZE "" CACHE STRING
    "Sanitizer for unblock's tests/examples/benchmarks: '' (none), 'address' (ASan+UBSan), 'thread' (TSan)")
set_property(CACHE UNBLOCK_SANITIZE PROPERTY STRINGS "" address thread)
option(UNBLOCK_WARNINGS_AS_ERRORS "Add -Werror to unblock's own targets" ON)

if(NOT UNBLOCK_SANITIZE MATCHES "^(|address|thread)$")
    message(FATAL_ERROR
        "UNBLOCK_SANITIZE='${UNBLOCK_SANITIZE}' is not supported; use '', 'address' or 'thread'")
endif()
if(UNBLOCK_SANITIZE AND MSVC)
    message(FATAL_ERROR "UNBLOCK_SANITIZE is only implemented for GCC and Clang")
endif()

set(_unblock_warning_flags)
set(_unblock_sanitizer_flags)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    # Kept to what g++ 12 and clang++ 14 both accept without false positives on
    # coroutine code. -Wshadow is on because users build with it and the
    # headers must stay clean under it.
    set(_unblock_warning_flags -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual)
    if(UNBLOCK_WARNINGS_AS_ERRORS)
        list(APPEND _unblock_warning_flags -Werror)
    endif()
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        # Turns a precompiled header that g++ silently refuses (flags differ
        # from the ones it was built with) into an error instead of a slow build.
        list(APPEND _unblock_warning_flags -Winvalid-pch)
    endif()
elseif(MSVC)
    set(_unblock_warning_flags /W4 /permissive-)
    if(UNBLOCK_WARNINGS_AS_ERRORS)
        list(APPEND _unblock_warning_flags /WX)
    endif()
endif()

if(UNBLOCK_SANITIZE STREQUAL "address")
    set(_unblock_sanitizer_flags
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
elseif(UNBLOCK_SANITIZE STREQUAL "thread")
    set(_unblock_sanitizer_flags -fsanitize=thread -fno-omit-frame-pointer)
endif()
if(UNBLOCK_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC's manual: sanitizers raise the rate of false -Wmaybe-uninitialized
    # warnings (g++ 12 -O1 -fsanitize=address flags std::function inside
    # std::regex, used by Catch2). Real uses of uninitialized memory are what
    # the sanitizers themselves and the unsanitized configs catch.
    list(APPEND _unblock_warning_flags -Wno-maybe-uninitialized)
endif()

# Runtime options for sanitized binaries, exported to every test and example
# through the ENVIRONMENT test property (a single variable: see tests/).
# UBSan prints no stack by default; TSan needs tests/tsan.supp (read it).
# LeakSanitizer is on in the ASan config (tests/catch_main.cpp says so).
set(UNBLOCK_TEST_ENVIRONMENT)
if(UNBLOCK_SANITIZE STREQUAL "address")
    list(APPEND UNBLOCK_TEST_ENVIRONMENT "UBSAN_OPTIONS=print_stacktrace=1")
elseif(UNBLOCK_SANITIZE STREQUAL "thread")
    list(APPEND UNBLOCK_TEST_ENVIRONMENT
        "TSAN_OPTIONS=second_deadlock_stack=1:suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp")
endif()

# --- Can sanitized binaries run here? --------------------------------------
# TSan (LLVM < 18, GCC < 14 runtimes) aborts at start-up with "unexpected
# memory mapping" on kernels with high mmap ASLR entropy (vm.mmap_rnd_bits >
# 28, the default on recent Ubuntu kernels). Running the binary with ASLR
# disabled (`setarch <arch> -R`) avoids it. We probe once at configure time and,
# if needed, run every test and test-discovery step through that launcher.
set(UNBLOCK_TEST_LAUNCHER "" CACHE STRING
    "Command prefix (;-list) for running test binaries; empty = auto-detect")
set(unblock_launcher_args ${UNBLOCK_TEST_LAUNCHER})

function(_unblock_probe_sanitizer probe_key)
    set(probe_dir "${CMAKE_BINARY_DIR}/CMakeFiles/unblock_sanitizer_probe")
    file(WRITE "${probe_dir}/probe.cpp" [=[
#include <cstdio>
#include <thread>
int main() {
    int value = 0;
    std::thread worker([&] { value = 42; });
    worker.join();
    std::printf("sanitizer probe ok %d\n", value);
    return value == 42 ? 0 : 1;
}
]=])
    string(REPLACE ";" " " flags "${_unblock_sanitizer_flags}")
    try_compile(compiled "${probe_dir}/build" "${probe_dir}/probe.cpp"
        CMAKE_FLAGS "-DCMAKE_CXX_FLAGS=${flags}" "-DCMAKE_EXE_LINKER_FLAGS=${flags}"
        LINK_LIBRARIES Threads::Threads
        CXX_STANDARD 20
        OUTPUT_VARIABLE compile_output
        COPY_FILE "${probe_dir}/probe")
    if(NOT compiled)
        message(FATAL_ERROR
            "UNBLOCK_SANITIZE=${UNBLOCK_SANITIZE}: ${CMAKE_CXX_COMPILER} cannot build a sanitized "
            "program (is the sanitizer runtime installed?):\n${compile_output}")
    endif()
    execute_process(COMMAND "${probe_dir}/probe"
        RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(STRIP "${err}" err)
    if(result EQUAL 0)
        message(STATUS "unblock: ${UNBLOCK_SANITIZE} sanitizer runs natively")
        set(_UNBLOCK_SANITIZER_PROBED "${probe_key}" CACHE INTERNAL "")
        return()
    endif()
    # Try again with ASLR disabled for this process tree.
    execute_process(COMMAND uname -m OUTPUT_VARIABLE arch OUTPUT_STRIP_TRAILING_WHITESPACE)
    find_program(UNBLOCK_SETARCH setarch)
    if(UNBLOCK_SETARCH)
        execute_process(COMMAND "${UNBLOCK_SETARCH}" "${arch}" -R "${probe_dir}/probe"
            RESULT_VARIABLE result2 OUTPUT_VARIABLE out2 ERROR_VARIABLE err2)
        if(result2 EQUAL 0)
            set(launcher "${UNBLOCK_SETARCH};${arch};-R")
            message(STATUS "unblock: ${UNBLOCK_SANITIZE} sanitizer fails with ASLR on "
                "(${err}); tests will run under: ${launcher}")
            set(UNBLOCK_TEST_LAUNCHER "${launcher}" CACHE STRING
                "Command prefix (;-list) for running test binaries; empty = auto-detect" FORCE)
            set(unblock_launcher_args "${launcher}" PARENT_SCOPE)
            return()
        endif()
    endif()
    message(FATAL_ERROR
        "UNBLOCK_SANITIZE=${UNBLOCK_SANITIZE}: a sanitized program built by ${CMAKE_CXX_COMPILER} "
        "does not run on this machine, not even with `setarch ${arch} -R`.\n"
        "Output: ${err} ${err2}\n"
        "If it says 'unexpected memory mapping', lower the ASLR entropy: "
        "`sudo sysctl vm.mmap_rnd_bits=28`.")
endfunction()

set(_unblock_probe_key "${UNBLOCK_SANITIZE}|${CMAKE_CXX_COMPILER}")
if(UNBLOCK_SANITIZE AND "${UNBLOCK_TEST_LAUNCHER}" STREQUAL ""
   AND NOT "${_UNBLOCK_SANITIZER_PROBED}" STREQUAL "${_unblock_probe_key}")
    _unblock_probe_sanitizer("${_unblock_probe_key}")
endif()

# unblock_target_defaults(<target>)
#   Warnings (as errors) and the UNBLOCK_SANITIZE flags for one of our targets.
#   Every test target and the Catch2 main get exactly the same flags, which the
#   shared precompiled header relies on.
function(unblock_target_defaults target)
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "INTERFACE_LIBRARY")
        message(FATAL_ERROR "unblock_target_defaults(${target}): not for interface targets")
    endif()
    target_compile_options(${target} PRIVATE ${_unblock_warning_flags} ${_unblock_sanitizer_flags})
    if(_unblock_sanitizer_flags)
        target_link_options(${target} PRIVATE ${_unblock_sanitizer_flags})
        # Lets a test leave out what a sanitizer cannot host, e.g. replacing the
        # global operator new (clang's TSan/ASan runtimes define it: link error):
        #   #if !defined(UNBLOCK_SANITIZER_THREAD) && !defined(UNBLOCK_SANITIZER_ADDRESS)
        string(TOUPPER "${UNBLOCK_SANITIZE}" sanitizer)
        target_compile_definitions(${target} PRIVATE UNBLOCK_SANITIZER_${sanitizer}=1)
    endif()
    if(unblock_launcher_args AND type STREQUAL "EXECUTABLE")
        # Used by catch_discover_tests() for the build-time test listing.
        set_property(TARGET ${target} PROPERTY CROSSCOMPILING_EMULATOR "${unblock_launcher_args}")
    endif()
endfunction()
