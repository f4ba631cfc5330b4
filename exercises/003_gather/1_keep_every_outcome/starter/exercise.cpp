// Exercise 003.1: one failure must not hide the others (lesson 003, gather).
// fetch_everything() runs every fetch at once and reports the names of those that succeeded
// and the error message of those that failed, both in the order given. The starter uses
// gather(), which cancels the others at the first failure: make every fetch run to its end.
// Check it: ./tutorial exercise check 003.1   (stuck? ./tutorial exercise hint 003.1)
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>

#include "gather.hpp"  // lesson003::fetch, gather, gather_outcomes, Outcome, error_of

namespace exercise {

struct Report {
  std::vector<std::string> fetched;  // the names of the fetches that succeeded, in order
  std::vector<std::string> errors;   // what() of the exceptions of those that failed, in order
};

asio::awaitable<Report> fetch_everything(std::vector<lesson003::Fetch> fetches,
                                         std::shared_ptr<lesson003::Journal> journal) {
  std::vector<asio::awaitable<std::string>> children;
  for (const lesson003::Fetch& what : fetches) children.push_back(lesson003::fetch(what, journal));
  Report report;
  try {
    // TODO: gather() is asyncio.gather(*children): the first failure cancels the others and
    // is the only error you see. Use the gather of lesson 003 that waits for every child and
    // gives you each one's value or exception (return_exceptions=True), and sort them out.
    std::vector<std::string> names = co_await lesson003::gather(std::move(children));
    report.fetched = std::move(names);
  } catch (const std::exception& error) {
    report.errors.push_back(error.what());
  }
  co_return report;
}

}  // namespace exercise
