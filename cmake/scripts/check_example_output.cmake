# cmake -DEXECUTABLE=... -DLAUNCHER=... -DSPEC=... -P check_example_output.cmake
#
# Runs one example and checks its exit status and standard output against the
# expectations in SPEC (written by unblock_add_example(): PASS_REGEX, LINES,
# ARGS). See examples/CMakeLists.txt for the meaning of LINES/ANY_ORDER/END.

cmake_policy(VERSION 3.21)

include("${SPEC}")

execute_process(COMMAND ${LAUNCHER} "${EXECUTABLE}" ${ARGS}
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)

# ctest shows our output on failure; show the program's too.
message("---- stdout ----\n${output}---- stderr ----\n${errors}----------------")

if(NOT result EQUAL 0)
    message(FATAL_ERROR "example exited with status ${result}")
endif()

if(NOT "${PASS_REGEX}" STREQUAL "")
    if(NOT output MATCHES "${PASS_REGEX}")
        message(FATAL_ERROR "stdout does not match PASS_REGEX: ${PASS_REGEX}")
    endif()
    return()
endif()

if(NOT CHECK_LINES)
    return()
endif()

# stdout as a list of non-empty lines (';' and '\' protected from list splitting).
string(REPLACE "\r" "" text "${output}")
string(REPLACE "\\" "<BACKSLASH>" text "${text}")
string(REPLACE ";" "<SEMICOLON>" text "${text}")
string(REPLACE "\n" ";" actual "${text}")
list(FILTER actual EXCLUDE REGEX "^[ \t]*$")

# Expected lines as groups: a plain entry is a group of one; ANY_ORDER ... END
# is one group whose members may come in any order.
set(groups "")
set(group_count 0)
set(in_group FALSE)
foreach(entry IN LISTS LINES)
    if(entry STREQUAL "ANY_ORDER")
        if(in_group)
            message(FATAL_ERROR "LINES: nested ANY_ORDER")
        endif()
        set(in_group TRUE)
        math(EXPR group_count "${group_count} + 1")
        set(group_${group_count} "")
    elseif(entry STREQUAL "END")
        if(NOT in_group)
            message(FATAL_ERROR "LINES: END without ANY_ORDER")
        endif()
        set(in_group FALSE)
    elseif(in_group)
        list(APPEND group_${group_count} "${entry}")
    else()
        math(EXPR group_count "${group_count} + 1")
        set(group_${group_count} "${entry}")
    endif()
endforeach()
if(in_group)
    message(FATAL_ERROR "LINES: ANY_ORDER without END")
endif()

function(line_at index out_var)
    list(GET actual ${index} line)
    string(REPLACE "<SEMICOLON>" ";" line "${line}")
    string(REPLACE "<BACKSLASH>" "\\" line "${line}")
    set(${out_var} "${line}" PARENT_SCOPE)
endfunction()

list(LENGTH actual actual_count)
set(position 0)
set(g 0)
while(g LESS group_count)
    math(EXPR g "${g} + 1")
    set(pending "${group_${g}}")
    list(LENGTH pending pending_count)
    while(pending_count GREATER 0)
        if(position GREATER_EQUAL actual_count)
            message(FATAL_ERROR "output ended early; still expected a line matching one of: ${pending}")
        endif()
        line_at(${position} line)
        set(matched "")
        foreach(pattern IN LISTS pending)
            if(line MATCHES "^${pattern}$")
                set(matched "${pattern}")
                break()
            endif()
        endforeach()
        if("${matched}" STREQUAL "")
            math(EXPR line_number "${position} + 1")
            message(FATAL_ERROR
                "line ${line_number} is '${line}', expected a line matching: ${pending}")
        endif()
        list(FIND pending "${matched}" matched_index)
        list(REMOVE_AT pending ${matched_index})
        list(LENGTH pending pending_count)
        math(EXPR position "${position} + 1")
    endwhile()
endwhile()
if(position LESS actual_count)
    line_at(${position} line)
    message(FATAL_ERROR "unexpected extra output line: '${line}'")
endif()
