# ctest mpi.rank_failure_ends_job: runs tests/mpi/rank_failure.cpp under
# mpirun, where a serving rank exits in the middle of a call. Passes when the
# job ends by itself (no hang: TIMEOUT), non-zero, and rank 0 never printed
# that it went on.
#   cmake -DMPIEXEC=... -DFLAGS="a;b" -DPROGRAM=... -P mpi_rank_failure_test.cmake
execute_process(
    COMMAND ${MPIEXEC} ${FLAGS} -np 2 ${PROGRAM}
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err
    RESULT_VARIABLE result
    TIMEOUT 60)
message("exit: ${result}\n--- stdout\n${out}\n--- stderr\n${err}")
if(result MATCHES "timeout|Process terminated")
    message(FATAL_ERROR "the job hung after a rank died")
endif()
if(result EQUAL 0)
    message(FATAL_ERROR "mpirun exited 0 although a rank died")
endif()
if(out MATCHES "rank 0 went on")
    message(FATAL_ERROR "rank 0 went on after its worker died")
endif()
