// Project 031: the queue's SQL and a worker's loop (see task_queue.hpp for the rules).
#include "task_queue.hpp"

#include <algorithm>
#include <exception>
#include <system_error>

#include <fmt/core.h>

#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"

namespace lesson031 {

using namespace asio::experimental::awaitable_operators;
using lesson028::PgError;

namespace {

// The claim: due jobs, best first, skipping rows another worker is claiming right now. A
// `running` job whose lease has expired is due too: its worker is presumed dead.
const char* const claim_sql = R"(
  UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = $1,
                  lease_until = tq_now() + $3::bigint * interval '1 ms'
  WHERE id IN (SELECT id FROM jobs
               WHERE ((state = 'waiting' AND run_at <= tq_now())
                      OR (state = 'running' AND lease_until < tq_now()))
                 AND ($4 = '' OR kind = ANY (string_to_array($4, ',')))
               ORDER BY priority DESC, run_at, id
               LIMIT $2 FOR UPDATE SKIP LOCKED)
  RETURNING id, kind, payload, priority, attempts, max_attempts)";

// Every change to a claimed job names its lease: a job taken over is not ours any more.
const char* const held = " WHERE id = $1 AND worker = $2 AND attempts = $3 AND state = 'running'"
                         " RETURNING id";

std::string ms(milliseconds d) { return std::to_string(d.count()); }

void say(const std::string& worker, const std::string& text) {
  fmt::print(stderr, "{}: {}\n", worker, text);  // stdout stays the program's own
}

}  // namespace

asio::awaitable<std::vector<Job>> Queue::claim(std::string worker, int n, milliseconds lease,
                                               std::vector<std::string> kinds) {
  std::string kind_list;
  for (const auto& kind : kinds) kind_list += (kind_list.empty() ? "" : ",") + kind;
  std::vector<std::string> params = {worker, std::to_string(n), ms(lease), kind_list};
  auto rows = co_await pool_.query(claim_sql, params);
  std::vector<Job> jobs;
  for (const auto& row : rows.rows)
    jobs.push_back(Job{std::stoll(*row[0]), *row[1], *row[2], std::stoi(*row[3]),
                       std::stoi(*row[4]), std::stoi(*row[5])});
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    return a.priority != b.priority ? a.priority > b.priority : a.id < b.id;  // RETURNING: any order
  });
  co_return jobs;
}

asio::awaitable<bool> Queue::complete(Job job, std::string worker) {
  auto sql = std::string("UPDATE jobs SET state = 'done', finished_at = tq_now(), "
                         "lease_until = NULL, last_error = NULL") + held;
  std::vector<std::string> params = {std::to_string(job.id), worker, std::to_string(job.attempts)};
  auto rows = co_await pool_.query(sql, params);
  co_return !rows.rows.empty();
}

asio::awaitable<bool> Queue::fail(Job job, std::string worker, std::string error,
                                  milliseconds retry_after) {
  auto sql = std::string(
      "UPDATE jobs SET last_error = $4, lease_until = NULL,"
      " state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'waiting' END,"
      " finished_at = CASE WHEN attempts >= max_attempts THEN tq_now() END,"
      " run_at = tq_now() + $5::bigint * interval '1 ms'") + held;
  std::vector<std::string> params = {std::to_string(job.id), worker, std::to_string(job.attempts), error, ms(retry_after)};
  auto rows = co_await pool_.query(sql, params);
  co_return !rows.rows.empty();
}

// ------------------------------------------------------------------------------ Worker

Worker::Worker(Queue& queue, WorkerOptions options, std::map<std::string, Handler> handlers)
    : queue_(queue), options_(std::move(options)), handlers_(std::move(handlers)) {
  if (options_.kinds.empty())
    for (const auto& [kind, handler] : handlers_) options_.kinds.push_back(kind);
}

void Worker::wake() {
  woken_ = true;  // remembered if the loop is busy claiming: it then claims again at once
  if (alarm_) alarm_->cancel();
}

asio::awaitable<void> Worker::run(lesson022::TaskGroup group, lesson022::Stop stop) {
  alarm_.emplace(co_await asio::this_coro::executor);
  auto listener = [this, stop]() -> asio::awaitable<void> {
    auto listening = (stop.wait() || listen());  // named first (g++ 12)
    co_await std::move(listening);
    wake();  // the Stop: the claim loop must see it now, not at its next poll
  };
  group.spawn(listener());
  int failures = 0;  // claims failed in a row: the database is away
  while (!stop.requested()) {
    const int free = options_.concurrency - in_flight_;
    std::size_t claimed = 0;
    bool reached = true;
    if (free > 0) {
      try {
        auto jobs = co_await queue_.claim(options_.name, free, options_.lease, options_.kinds);
        claimed = jobs.size();
        failures = 0;
        for (auto& job : jobs) {
          ++in_flight_;
          held_[job.id] = job;
          group.spawn(run_job(job));
        }
      } catch (const PgError& e) {
        reached = false;
        say(options_.name, fmt::format("cannot claim ({}); trying again", e.what()));
      }
    }
    if (reached && free > 0 && claimed == static_cast<std::size_t>(free)) continue;  // maybe more
    if (!woken_) {
      const auto delay =
          reached ? options_.poll : lesson027::backoff_window(options_.backoff, ++failures);
      alarm_->expires_after(delay);
      co_await alarm_->async_wait(compat::as_tuple(asio::use_awaitable));  // woken: cancelled
    }
    woken_ = false;
  }
}

asio::awaitable<void> Worker::listen() {
  for (int failures = 0;; ++failures) {
    try {
      auto connection = co_await lesson028::Connection::open(queue_.conninfo());
      co_await connection->query("LISTEN tq_jobs");
      failures = 0;
      wake();  // a NOTIFY sent while we were not listening is lost: look now
      for (;;) {
        co_await connection->notification();
        wake();
      }
    } catch (const PgError& e) {
      say(options_.name, fmt::format("listener lost ({}); reconnecting", e.what()));
    }
    co_await pause(lesson027::backoff_window(options_.backoff, failures + 1));
  }
}

asio::awaitable<void> Worker::run_job(Job job) {
  std::string error;
  bool lost = false;
  if (job.attempts > job.max_attempts) {
    error = "its lease expired on every attempt (the workers running it died)";
  } else if (handlers_.count(job.kind) == 0) {
    error = "no handler for kind '" + job.kind + "'";
  } else {
    auto running = (execute(job) || keep_lease(job));  // named first (g++ 12)
    auto outcome = co_await std::move(running);
    if (outcome.index() == 0) error = std::get<0>(outcome);
    lost = outcome.index() == 1;  // another worker has it now: this run's result is void
  }
  if (lost) {
    say(options_.name, fmt::format("job {}: lease lost, handler cancelled", job.id));
  } else {
    co_await settle(job, error);
  }
  held_.erase(job.id);
  --in_flight_;
  wake();  // a slot is free
}

asio::awaitable<std::string> Worker::execute(Job job) {
  std::exception_ptr failure;
  try {
    const Handler& handler = handlers_.at(job.kind);
    co_await handler(job);
  } catch (const std::system_error& e) {
    if (e.code() == asio::error::operation_aborted) throw;  // a cancellation is no failure
    failure = std::current_exception();
  } catch (...) {
    failure = std::current_exception();
  }
  if (!failure) co_return std::string();
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    co_return std::string(e.what());
  } catch (...) {
    co_return std::string("an unknown exception");
  }
}

asio::awaitable<void> Worker::keep_lease(Job job) {
  for (;;) {
    co_await pause(options_.lease / 3);
    try {
      const bool ours = co_await queue_.extend(job, options_.name, options_.lease);
      if (!ours) co_return;
    } catch (const PgError&) {
      // The database is away: try at the next beat. If it stays away past the lease, the
      // job will run again elsewhere, and this run's complete() will find it gone.
    }
  }
}

asio::awaitable<void> Worker::settle(Job job, std::string error) {
  for (int failures = 1;; ++failures) {
    try {
      bool ours = false;  // each co_await in a statement of its own (g++ 12)
      if (error.empty()) {
        ours = co_await queue_.complete(job, options_.name);
      } else {
        const milliseconds retry_after = lesson027::backoff_window(options_.backoff, job.attempts);
        ours = co_await queue_.fail(job, options_.name, error, retry_after);
      }
      say(options_.name, fmt::format("job {} ({} {}) attempt {}: {}{}", job.id, job.kind, job.payload,
                                     job.attempts, error.empty() ? "done" : "failed: " + error,
                                     ours ? "" : " (lease lost meanwhile: not recorded)"));
      co_return;
    } catch (const PgError& e) {
      say(options_.name, fmt::format("job {}: cannot record its end ({}); retrying", job.id, e.what()));
    }
    co_await pause(lesson027::backoff_window(options_.backoff, failures));
  }
}

asio::awaitable<int> Worker::release_held() {
  int released = 0;
  for (const auto& [id, job] : held_) {
    try {
      const bool ours = co_await queue_.release(job, options_.name);
      released += ours ? 1 : 0;
    } catch (const PgError&) {
      // Unreachable database: the lease will expire and another worker will run it.
    }
  }
  held_.clear();
  co_return released;
}

}  // namespace lesson031
