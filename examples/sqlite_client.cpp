// A SQLite client on the loop: the blocking driver runs through to_thread, and
// a ticker shows the loop stays responsive throughout.
//
//   1. 10,000 inserts, one to_thread call each, in one transaction;
//   2. 50 SELECTs at once under gather;
//   3. a slow query under wait_for(200 ms), stopped through its std::stop_token
//      with sqlite3_interrupt (the recipe of the README's cancellation section).
//
// Prints (the ticker's count varies, so it is only checked to be > 0):
//   inserted 10000 rows
//   50 concurrent queries: 10000 rows, sum of ids 49995000
//   slow query: timed out, interrupted within 2 s
//   the loop ticked while SQLite worked
#include <unblock/unblock.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

using namespace std::chrono_literals;

/// One connection, opened in SQLite's serialized mode: it may be used from
/// any thread, one call at a time (SQLite's own mutex orders them).
class database {
public:
    explicit database(const char* path) {
        if (sqlite3_open_v2(path, &m_db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            nullptr) != SQLITE_OK) {
            throw std::runtime_error(std::string("sqlite3_open_v2: ") + sqlite3_errmsg(m_db));
        }
    }
    database(const database&) = delete;
    database& operator=(const database&) = delete;
    ~database() { sqlite3_close(m_db); }

    /// Runs `sql`; blocking.
    void execute(const char* sql) {
        char* error = nullptr;
        if (sqlite3_exec(m_db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
            std::string message = error ? error : "unknown error";
            sqlite3_free(error);
            throw std::runtime_error(message);
        }
    }

    /// Runs a query whose result is one integer; blocking.
    long long query_integer(const std::string& sql) {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(m_db, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
            throw std::runtime_error(sqlite3_errmsg(m_db));
        const int step = sqlite3_step(statement);
        const long long value = step == SQLITE_ROW ? sqlite3_column_int64(statement, 0) : 0;
        sqlite3_finalize(statement);
        if (step != SQLITE_ROW) throw std::runtime_error(sqlite3_errmsg(m_db));
        return value;
    }

    /// Makes the query running on another thread return SQLITE_INTERRUPT soon.
    void interrupt() noexcept { sqlite3_interrupt(m_db); }

private:
    sqlite3* m_db = nullptr;
};

/// Counts loop iterations 10 ms apart until cancelled.
unblock::task<> tick(int& ticks) {
    for (;;) {
        co_await unblock::sleep(10ms);
        ++ticks;
    }
}

unblock::task<> main_coroutine() {
    database db(":memory:");
    int ticks = 0;
    auto ticker = unblock::create_task(tick(ticks), "ticker");

    co_await unblock::to_thread(
        [&db] { db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"); });

    // 1. Inserts: each a blocking call on the default thread pool.
    co_await unblock::to_thread([&db] { db.execute("BEGIN"); });
    for (int id = 0; id < 10'000; ++id) {
        co_await unblock::to_thread([&db, id] {
            db.execute(("INSERT INTO items VALUES (" + std::to_string(id) + ", 'item')").c_str());
        });
    }
    co_await unblock::to_thread([&db] { db.execute("COMMIT"); });
    const long long rows = co_await unblock::to_thread(
        [&db] { return db.query_integer("SELECT count(*) FROM items"); });
    std::printf("inserted %lld rows\n", rows);

    // 2. Fifty queries at once, each over a fiftieth of the rows.
    std::vector<unblock::future<long long>> queries;
    for (int part = 0; part < 50; ++part) {
        queries.push_back(unblock::run_in_executor(nullptr, [&db, part] {
            return db.query_integer("SELECT total(id) FROM items WHERE id % 50 = " +
                                    std::to_string(part));
        }));
    }
    long long sum = 0;
    for (auto& query : queries)
        sum += co_await query;
    std::printf("50 concurrent queries: %lld rows, sum of ids %lld\n", rows, sum);

    // 3. A query that would run for minutes, given 200 ms. On timeout,
    //    wait_for cancels the call: its stop token is requested, and the
    //    stop_callback interrupts SQLite, so the call returns at once.
    auto slow_query = [&db](std::stop_token stop) {
        std::stop_callback on_stop(stop, [&db] { db.interrupt(); });
        return db.query_integer("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                "WHERE i < 10000000000) SELECT count(*) FROM n");
    };
    const auto started = std::chrono::steady_clock::now();
    try {
        co_await unblock::wait_for(unblock::to_thread(slow_query), 200ms);
        std::printf("slow query: finished (unexpected)\n");
    } catch (const unblock::timeout_error&) {
        const auto waited = std::chrono::steady_clock::now() - started;
        std::printf("slow query: timed out, %s\n",
                    waited < 2s ? "interrupted within 2 s" : "NOT interrupted in time");
    }

    ticker.cancel();
    try {
        co_await ticker;
    } catch (const unblock::cancelled_error&) {
    }
    if (ticks > 0) std::printf("the loop ticked while SQLite worked\n");
}

int main() { unblock::run(main_coroutine()); }
