// detail::spin_advisor: whether a wait spins before it sleeps, decided from
// how long the recent waits took each way (the loop's and the pool's spin).
#include <unblock/detail/spin.hpp>

#include <catch2/catch.hpp>

#include <chrono>

using namespace std::chrono_literals;
using unblock::detail::spin_advisor;

namespace {

/// Feeds `waits` waits: each asks for a spin and then reports how long it
/// took, `spun` when it spun and `slept` when it slept; returns how many spun.
int feed(spin_advisor& advisor, int waits, std::chrono::microseconds spun,
         std::chrono::microseconds slept) {
    int spins = 0;
    for (int i = 0; i < waits; ++i) {
        const bool spin = advisor.next_spin() > spin_advisor::duration::zero();
        spins += spin ? 1 : 0;
        advisor.record(spin ? spun : slept);
    }
    return spins;
}

} // namespace

TEST_CASE("waits that spin briefly always spin, with no probe of sleeping", "[spin]") {
    spin_advisor advisor(50us);
    CHECK(feed(advisor, 1000, 0us, 15us) == 1000);
    CHECK(advisor.next_spin() == 50us);
}

TEST_CASE("a zero spin limit never spins", "[spin]") {
    spin_advisor advisor(0us);
    CHECK(feed(advisor, 100, 0us, 15us) == 0);
}

TEST_CASE("when sleeping is clearly faster the advisor sleeps, probing spins now and then",
          "[spin]") {
    // A busy machine: spinning takes the core the awaited thread needs.
    spin_advisor advisor(50us);
    const int spins = feed(advisor, 1600, 120us, 15us);
    // It tried sleeping, saw it win, and from then on sleeps 15 waits in 16.
    CHECK(spins < 1600 / 8);
    CHECK(spins >= 1600 / 16 - 2);
    CHECK_FALSE(advisor.spinning());
}

TEST_CASE("about even waits keep spinning: sleeping must win by a clear margin", "[spin]") {
    spin_advisor advisor(50us);
    const int spins = feed(advisor, 1600, 40us, 36us);
    CHECK(spins > 1600 - 1600 / 16 - 2);
}

TEST_CASE("when the load goes away the advisor spins again", "[spin]") {
    spin_advisor advisor(50us);
    (void)feed(advisor, 800, 120us, 15us); // busy: sleeps
    CHECK(feed(advisor, 16, 120us, 15us) <= 2);
    // Idle again: spins answer at once (the probes say so), sleeping still costs a wake-up.
    (void)feed(advisor, 800, 0us, 15us);
    CHECK(feed(advisor, 100, 0us, 15us) == 100);
}

TEST_CASE("long waits are capped, so an idle spell does not decide the next burst", "[spin]") {
    spin_advisor advisor(50us);
    (void)feed(advisor, 16, 0us, 15us);
    // One wait of 10 s (an idle pool) weighs no more than 8 x the spin limit.
    const bool spun = advisor.next_spin() > spin_advisor::duration::zero();
    REQUIRE(spun);
    advisor.record(10s);
    // A few quick spins bring the average back under the cheap-wait line.
    CHECK(feed(advisor, 40, 0us, 15us) >= 38);
    CHECK(advisor.next_spin() == 50us);
}
