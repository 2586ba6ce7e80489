// <unblock/codec.hpp> alone: a value encoded and decoded.
#include <unblock/codec.hpp>
#include <unblock/codec.hpp> // the include guard holds

#include <map>
#include <string>

std::size_t header_use_codec() {
    const std::map<std::string, int> value{{"a", 1}};
    unblock::byte_writer out;
    unblock::codec<std::map<std::string, int>>::encode(out, value);
    const auto bytes = out.release();
    unblock::byte_reader in(bytes.data(), bytes.size());
    return unblock::codec<std::map<std::string, int>>::decode(in).size();
}
