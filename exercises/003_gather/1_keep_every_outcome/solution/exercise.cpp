// Exercise 003.1, a solution: gather_outcomes() waits for every child, cancels none, and
// returns each one's value or exception in the order given.
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <asio/awaitable.hpp>

#include "gather.hpp"

namespace exercise {

struct Report {
  std::vector<std::string> fetched;
  std::vector<std::string> errors;
};

asio::awaitable<Report> fetch_everything(std::vector<lesson003::Fetch> fetches,
                                         std::shared_ptr<lesson003::Journal> journal) {
  std::vector<asio::awaitable<std::string>> children;
  for (const lesson003::Fetch& what : fetches) children.push_back(lesson003::fetch(what, journal));
  std::vector<lesson003::Outcome<std::string>> outcomes =
      co_await lesson003::gather_outcomes(std::move(children));
  Report report;
  for (auto& outcome : outcomes) {
    std::exception_ptr error = lesson003::error_of(outcome);
    if (!error) {
      report.fetched.push_back(std::get<std::string>(outcome));
      continue;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      report.errors.push_back(e.what());
    }
  }
  co_return report;
}

}  // namespace exercise
