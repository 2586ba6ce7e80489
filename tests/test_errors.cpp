// Tests of include/unblock/errors.hpp: the exception hierarchy and its messages.
#include <unblock/errors.hpp>

#include <catch2/catch.hpp>

#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

TEMPLATE_TEST_CASE("every error is an unblock::error and a std::exception", "[errors]",
                   unblock::cancelled_error, unblock::timeout_error, unblock::no_running_loop_error,
                   unblock::invalid_state_error, unblock::queue_full_error,
                   unblock::queue_empty_error, unblock::queue_shut_down_error,
                   unblock::executor_shutdown_error, unblock::broken_executor_error,
                   unblock::worker_crashed_error, unblock::remote_error,
                   unblock::serialization_error) {
    STATIC_REQUIRE(std::is_base_of_v<unblock::error, TestType>);
    STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, TestType>);
    STATIC_REQUIRE(std::is_base_of_v<std::exception, TestType>);
}

// Exceptions are copied when thrown and through std::exception_ptr; like the
// standard exception classes ([exception]/2) their copies should not throw.
TEMPLATE_TEST_CASE("errors copy without throwing", "[errors]", unblock::cancelled_error,
                   unblock::timeout_error, unblock::no_running_loop_error,
                   unblock::invalid_state_error, unblock::queue_full_error,
                   unblock::queue_empty_error, unblock::queue_shut_down_error,
                   unblock::executor_shutdown_error, unblock::broken_executor_error,
                   unblock::worker_crashed_error, unblock::serialization_error) {
    STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<TestType>);
    STATIC_REQUIRE(std::is_nothrow_copy_assignable_v<TestType>);
}

// remote_error carries its type name too; copying it must not throw either.
TEST_CASE("remote_error copies without throwing", "[errors]") {
    STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<unblock::remote_error>);
    STATIC_REQUIRE(std::is_nothrow_copy_assignable_v<unblock::remote_error>);
    const unblock::remote_error original("my::error", "it broke");
    const unblock::remote_error copy =
        original; // NOLINT(performance-unnecessary-copy-initialization)
    CHECK(copy.type_name() == "my::error");
    CHECK(&copy.type_name() == &original.type_name()); // shared, not copied
}

TEST_CASE("unblock::error is a std::runtime_error", "[errors]") {
    STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, unblock::error>);
    const unblock::error e("something failed");
    CHECK(std::string(e.what()) == "something failed");
}

TEMPLATE_TEST_CASE("errors built from a message keep it", "[errors]", unblock::cancelled_error,
                   unblock::timeout_error, unblock::no_running_loop_error,
                   unblock::invalid_state_error, unblock::queue_full_error,
                   unblock::queue_empty_error, unblock::queue_shut_down_error,
                   unblock::executor_shutdown_error, unblock::broken_executor_error,
                   unblock::worker_crashed_error, unblock::serialization_error) {
    const TestType e("custom message 123");
    CHECK(std::string(e.what()) == "custom message 123");
}

TEMPLATE_TEST_CASE("errors are caught as unblock::error and std::exception", "[errors]",
                   unblock::cancelled_error, unblock::timeout_error, unblock::no_running_loop_error,
                   unblock::executor_shutdown_error) {
    bool caught_as_error = false;
    try {
        throw TestType();
    } catch (const unblock::error& e) {
        caught_as_error = true;
        CHECK_THAT(e.what(), StartsWith("unblock: "));
    }
    CHECK(caught_as_error);

    bool caught_as_std = false;
    try {
        throw TestType();
    } catch (const std::exception& e) {
        caught_as_std = true;
        CHECK(std::string(e.what()).size() > 20);
    }
    CHECK(caught_as_std);
}

TEST_CASE("default messages say what happened", "[errors]") {
    CHECK_THAT(unblock::cancelled_error().what(), Contains("cancelled"));
    CHECK_THAT(unblock::timeout_error().what(), Contains("timed out"));
    CHECK_THAT(unblock::timeout_error().what(), Contains("cancelled"));
    CHECK_THAT(unblock::no_running_loop_error().what(), Contains("no event loop is running"));
    CHECK_THAT(unblock::executor_shutdown_error().what(), Contains("shut down"));
}

TEST_CASE("default messages say what to do where it helps", "[errors]") {
    SECTION("no_running_loop_error names the ways to start a loop") {
        const std::string what = unblock::no_running_loop_error().what();
        CHECK_THAT(what, Contains("unblock::run()"));
        CHECK_THAT(what, Contains("run_until_complete()"));
    }
    SECTION("executor_shutdown_error says to submit earlier or use a new executor") {
        const std::string what = unblock::executor_shutdown_error().what();
        CHECK_THAT(what, Contains("before shutdown()"));
        CHECK_THAT(what, Contains("create a new executor"));
    }
}

TEST_CASE("remote_error keeps the original type name and message", "[errors]") {
    const unblock::remote_error e("my::parse_error", "bad token at 3:14");

    CHECK(e.type_name() == "my::parse_error");
    const std::string what = e.what();
    CHECK_THAT(what, Contains("my::parse_error"));
    CHECK_THAT(what, Contains("bad token at 3:14"));
    CHECK_THAT(what, StartsWith("unblock: "));

    SECTION("a copy keeps both") {
        const unblock::remote_error copy = e;
        CHECK(copy.type_name() == "my::parse_error");
        CHECK(std::string(copy.what()) == what);
    }
    SECTION("they survive std::exception_ptr") {
        std::exception_ptr ptr;
        try {
            throw e;
        } catch (...) {
            ptr = std::current_exception();
        }
        try {
            std::rethrow_exception(ptr);
        } catch (const unblock::remote_error& rethrown) {
            CHECK(rethrown.type_name() == "my::parse_error");
            CHECK_THAT(rethrown.what(), Contains("bad token at 3:14"));
        }
    }
}

TEST_CASE("remote_error with an empty message still names the type", "[errors]") {
    const unblock::remote_error e("std::bad_variant_access", "");
    CHECK(e.type_name() == "std::bad_variant_access");
    CHECK_THAT(e.what(), Contains("std::bad_variant_access"));
}

TEMPLATE_TEST_CASE("the queue errors say what to do by default", "[errors]",
                   unblock::queue_full_error, unblock::queue_empty_error,
                   unblock::queue_shut_down_error) {
    const TestType e;
    CHECK_THAT(e.what(), StartsWith("unblock::queue"));
}
