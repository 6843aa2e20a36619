#include "core/error.hpp"

#include <system_error>

namespace shardline {
namespace {

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "shardline"; }
  std::string message(int v) const override {
    switch (static_cast<Errc>(v)) {
    case Errc::timeout: return "timeout";
    case Errc::closed: return "closed";
    case Errc::not_connected: return "not_connected";
    case Errc::connect_failed: return "connect_failed";
    case Errc::refused: return "refused";
    case Errc::bad_input: return "bad_input";
    case Errc::protocol: return "protocol";
    case Errc::unsupported: return "unsupported";
    case Errc::not_found: return "not_found";
    case Errc::busy: return "busy";
    case Errc::cancelled: return "cancelled";
    case Errc::io: return "io";
    }
    return "error";
  }
};

} // namespace

const std::error_category& error_category() {
  static const Category c;
  return c;
}

std::error_code make_error_code(Errc e) { return {static_cast<int>(e), error_category()}; }

std::string Error::kind() const { return code.category() == error_category() ? code.message() : "error"; }

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::system_error(e.code, e.message);
}

} // namespace shardline
