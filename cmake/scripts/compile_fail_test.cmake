# cmake -DBUILD_DIR=... -DTARGET=... -DSOURCE=... -DCONFIG=... -P compile_fail_test.cmake
#
# A build-failure test passes only if building TARGET (whose one source is
# SOURCE) FAILS and the compiler output matches the regex on SOURCE's first
# line:   // expect-error: <CMake regex>
# or, when the message must be the first error the user reads,
#         // expect-first-error: <CMake regex>
# which the first diagnostic line containing "error" must match. Each of the
# lines right after it of the form
#         // expect-also: <CMake regex>
# must match the output too (e.g. the name of the offending type).
# A file that compiles, or that fails for another reason, fails the test.

cmake_policy(VERSION 3.21)

file(READ "${SOURCE}" head LIMIT 4096)
string(REGEX MATCH "^[^\n]*" first_line "${head}")
string(REGEX REPLACE "[ \t\r]+$" "" first_line "${first_line}")
if(NOT first_line MATCHES "^// expect-(first-)?error: (.+)$")
    message(FATAL_ERROR
        "${SOURCE}: the first line must be `// expect-error: <regex>` (or "
        "`// expect-first-error: <regex>`) naming the diagnostic the compile is "
        "expected to fail with; it is: '${first_line}'")
endif()
set(expect_first "${CMAKE_MATCH_1}")
set(expected "${CMAKE_MATCH_2}")
set(also_expected)
string(REGEX MATCHALL "\n// expect-also: [^\n]*" also_lines "${head}")
foreach(line IN LISTS also_lines)
    string(REGEX REPLACE "^\n// expect-also: " "" pattern "${line}")
    string(REGEX REPLACE "[ \t\r]+$" "" pattern "${pattern}")
    list(APPEND also_expected "${pattern}")
endforeach()

set(config_args)
if(CONFIG)
    set(config_args --config "${CONFIG}")
endif()
execute_process(
    COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" ${config_args}
    RESULT_VARIABLE result
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)

if(result EQUAL 0)
    message(FATAL_ERROR
        "${SOURCE} compiled, but it must fail with an error matching: ${expected}\n"
        "(If it compiled earlier, ninja/make may report it up to date: touch it to rebuild.)\n"
        "${output}")
endif()

# Match against the diagnostics only, not the echoed compiler command line
# (which contains the file name).
string(REGEX REPLACE "[^\n]* -c [^\n]*" "" diagnostics "${output}")
string(REGEX REPLACE "FAILED: [^\n]*" "" diagnostics "${diagnostics}")
if(expect_first)
    string(REGEX MATCH "[^\n]*error:[^\n]*" first_error "${diagnostics}")
    if(NOT first_error MATCHES "${expected}")
        message(FATAL_ERROR
            "${SOURCE} failed to compile, but its first error is not the expected one.\n"
            "Expected the first error to match: ${expected}\nFirst error: ${first_error}\n"
            "Compiler output:\n${output}")
    endif()
elseif(NOT diagnostics MATCHES "${expected}")
    message(FATAL_ERROR
        "${SOURCE} failed to compile, but not with the expected error.\n"
        "Expected a match for: ${expected}\nCompiler output:\n${output}")
endif()
set(matched "${CMAKE_MATCH_0}")
foreach(pattern IN LISTS also_expected)
    if(NOT diagnostics MATCHES "${pattern}")
        message(FATAL_ERROR
            "${SOURCE} failed to compile with the expected error, but the output lacks: "
            "${pattern}\nCompiler output:\n${output}")
    endif()
endforeach()
message(STATUS "${SOURCE}: failed to compile as expected (matched: ${matched})")
