// expect-first-error: no unblock::codec<T> for this argument type. specialize unblock::codec<T>
// expect-also: codec_check<account>
// A type with no codec cannot cross the process boundary as an argument; the
// message points to codec.hpp.
#include <unblock/process_pool.hpp>

#include <string>

struct account {
    std::string owner;
    double balance = 0;
};

double balance_of(account a) { return a.balance; }

double use(unblock::process_pool_executor& pool) {
    return pool.submit(&balance_of, account{"ann", 1.0}).get();
}
