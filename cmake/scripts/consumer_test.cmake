# ctest driver for tests/consumer: configure, build and run it against unblock
# obtained one way (MODE = find_package | add_subdirectory | fetchcontent),
# with the outer build's compiler and generator, in a fresh WORK_DIR.
#
# cmake -DMODE=... -DUNBLOCK_SOURCE_DIR=... -DUNBLOCK_BUILD_DIR=...
#       -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=... -DMAKE_PROGRAM=...
#       -DCXX_COMPILER=... -DCONFIG=... -DMULTI_CONFIG=... -P consumer_test.cmake

cmake_policy(VERSION 3.21)

function(run step)
    execute_process(COMMAND ${ARGN}
        RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "consumer (${MODE}): ${step} failed (${result}):\n"
            "  ${ARGN}\n${output}")
    endif()
    set(last_output "${output}" PARENT_SCOPE)
endfunction()

if(NOT CONFIG)
    set(CONFIG Debug)
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(configure_args
    -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DUNBLOCK_CONSUMER_MODE=${MODE}"
    "-DUNBLOCK_SOURCE_DIR=${UNBLOCK_SOURCE_DIR}"
    # Never pick up an unblock registered or installed elsewhere.
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(MAKE_PROGRAM)
    list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(NOT MULTI_CONFIG)
    list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()

if(MODE STREQUAL "find_package")
    set(prefix "${WORK_DIR}/prefix")
    run("cmake --install" "${CMAKE_COMMAND}" --install "${UNBLOCK_BUILD_DIR}"
        --config "${CONFIG}" --prefix "${prefix}")
    list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${prefix}" "-DUNBLOCK_EXPECTED_PREFIX=${prefix}")
endif()

run("configure" "${CMAKE_COMMAND}" ${configure_args})
run("build" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --config "${CONFIG}")

file(READ "${WORK_DIR}/build/consumer_path-${CONFIG}.txt" executable)
run("run" "${executable}")
if(NOT last_output MATCHES "unblock consumer OK \\(${MODE}\\)")
    message(FATAL_ERROR "consumer (${MODE}): unexpected output:\n${last_output}")
endif()
message(STATUS "consumer (${MODE}): ${last_output}")
