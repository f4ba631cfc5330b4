// Exercise 009.1: no more than `limit` downloads at once (lesson 009, semaphores).
// download_all() downloads every URL concurrently and returns the pages in the order given.
// The server allows only `limit` connections per client, but the starter opens them all at
// once. Keep at most `limit` download() calls running, with a lesson009::Semaphore.
// Check it: ./tutorial exercise check 009.1   (stuck? ./tutorial exercise hint 009.1)
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

#include "gather.hpp"     // lesson003::gather(children)
#include "semaphore.hpp"  // lesson009::Semaphore(executor, value); co_await sem.acquire() -> Permit

namespace exercise {

/// Given by the tests: takes a while (a timer), then returns "page of <url>".
asio::awaitable<std::string> download(std::string url);

namespace {
asio::awaitable<std::string> one_download(std::string url) {
  // TODO (2 of 2): hold a permit of the semaphore for as long as the download runs.
  std::string page = co_await download(std::move(url));
  co_return page;
}
}  // namespace

asio::awaitable<std::vector<std::string>> download_all(std::vector<std::string> urls, int limit) {
  auto executor = co_await asio::this_coro::executor;
  // TODO (1 of 2): a semaphore with `limit` permits, shared by every one_download() (make it
  // outlive them: a std::shared_ptr passed by value is the simplest).
  (void)executor;
  (void)limit;
  std::vector<asio::awaitable<std::string>> children;
  for (std::string& url : urls) children.push_back(one_download(std::move(url)));
  std::vector<std::string> pages = co_await lesson003::gather(std::move(children));
  co_return pages;
}

}  // namespace exercise
