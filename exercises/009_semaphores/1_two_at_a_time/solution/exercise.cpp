// Exercise 009.1, a solution: every download holds one of `limit` permits while it runs; the
// others wait in acquire(), first come, first served.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

#include "gather.hpp"
#include "semaphore.hpp"

namespace exercise {

asio::awaitable<std::string> download(std::string url);

namespace {
asio::awaitable<std::string> one_download(std::shared_ptr<lesson009::Semaphore> slots,
                                          std::string url) {
  lesson009::Permit permit = co_await slots->acquire();
  std::string page = co_await download(std::move(url));
  co_return page;
}
}  // namespace

asio::awaitable<std::vector<std::string>> download_all(std::vector<std::string> urls, int limit) {
  auto executor = co_await asio::this_coro::executor;
  auto slots = std::make_shared<lesson009::Semaphore>(executor, limit);
  std::vector<asio::awaitable<std::string>> children;
  for (std::string& url : urls) children.push_back(one_download(slots, std::move(url)));
  std::vector<std::string> pages = co_await lesson003::gather(std::move(children));
  co_return pages;
}

}  // namespace exercise
