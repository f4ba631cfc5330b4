// Project 031: the queue's SQL and a worker's loop (see task_queue.hpp for the rules).
#include "task_queue.hpp"

#include <algorithm>
#include <variant>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/multiple_exceptions.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "queue_how_it_is_built.hpp"  // ms(), say(), job_from(), held

namespace lesson031 {

using namespace asio::experimental::awaitable_operators;
using lesson028::PgError;

// The claim: due jobs, best first, skipping rows another worker is claiming right now. A
// `running` job whose lease has expired is due too: its worker is presumed dead.
constexpr const char* claim_sql = R"(
  UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = $1,
                  lease_until = tq_now() + $3::bigint * interval '1 ms'
  WHERE id IN (SELECT id FROM jobs
               WHERE ((state = 'waiting' AND run_at <= tq_now())
                      OR (state = 'running' AND lease_until < tq_now()))
                 AND ($4 = '' OR kind = ANY (string_to_array($4, ',')))
               ORDER BY priority DESC, run_at, id
               LIMIT $2 FOR UPDATE SKIP LOCKED)
  RETURNING id, kind, payload, priority, attempts, max_attempts)";

asio::awaitable<std::vector<Job>> Queue::claim(std::string worker, int n, milliseconds lease,
                                               std::vector<std::string> kinds) {
  std::vector<std::string> params = {worker, std::to_string(n), ms(lease), comma_list(kinds)};
  auto rows = co_await query(claim_sql, params);
  std::vector<Job> jobs;
  for (const auto& row : rows.rows) jobs.push_back(job_from(row));
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {  // RETURNING: any order
    return a.priority != b.priority ? a.priority > b.priority : a.id < b.id;
  });
  co_return jobs;
}

asio::awaitable<bool> Queue::complete(Job job, std::string worker) {
  auto sql = std::string("UPDATE jobs SET state = 'done', finished_at = tq_now(), "
                         "lease_until = NULL, last_error = NULL") + held;
  std::vector<std::string> params = {std::to_string(job.id), worker, std::to_string(job.attempts)};
  auto rows = co_await query(sql, params);
  co_return !rows.rows.empty();
}

asio::awaitable<bool> Queue::fail(Job job, std::string worker, std::string error,
                                  milliseconds retry_after) {
  auto sql = std::string(
      "UPDATE jobs SET last_error = $4, lease_until = NULL,"
      " state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'waiting' END,"
      " finished_at = CASE WHEN attempts >= max_attempts THEN tq_now() END,"
      " run_at = tq_now() + $5::bigint * interval '1 ms'") + held;
  std::vector<std::string> params = {std::to_string(job.id), worker, std::to_string(job.attempts),
                                     error, ms(retry_after)};
  auto rows = co_await query(sql, params);
  co_return !rows.rows.empty();
}

void Worker::wake() {
  woken_ = true;  // remembered if the loop is busy claiming: it then claims again at once
  if (alarm_) alarm_->cancel();
}

asio::awaitable<void> Worker::run(lesson022::TaskGroup group, lesson022::Stop stop) {
  alarm_.emplace(co_await asio::this_coro::executor);
  group.spawn(listen_until(stop));  // a member, not a lambda: its frame must outlive run()'s
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
    if (!woken_) {  // with every slot busy, no deadline: a job's end (or the Stop) wakes us
      if (free <= 0) alarm_->expires_at(asio::steady_timer::time_point::max());
      else alarm_->expires_after(reached ? options_.poll : reconnect_delay(options_, ++failures));
      co_await alarm_->async_wait(compat::as_tuple(asio::use_awaitable));  // woken: cancelled
    }
    woken_ = false;
  }
}

asio::awaitable<void> Worker::listen_until(lesson022::Stop stop) {
  auto listening = (stop.wait() || listen());  // named first (g++ 12)
  co_await std::move(listening);
  wake();  // the Stop: the claim loop must see it now, not at its next poll
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
    co_await pause(reconnect_delay(options_, failures + 1));
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
    std::variant<std::string, bool> outcome;
    try {
      outcome = co_await std::move(running);
    } catch (const asio::multiple_exceptions& both) {
      // Both ended by the shutdown's cancellation: Asio wraps the first (lesson 003).
      std::rethrow_exception(both.first_exception());
    }
    if (outcome.index() == 1 && !std::get<1>(outcome))  // keep_lease() cancelled first: shutdown
      throw std::system_error(asio::error::operation_aborted);
    if (outcome.index() == 0) error = std::get<0>(outcome);
    lost = outcome.index() == 1;  // another worker has it now: the handler was cancelled
  }
  if (!lost) co_await settle(job, error);
  held_.erase(job.id);
  --in_flight_;
  wake();  // a slot is free
}

asio::awaitable<bool> Worker::keep_lease(Job job) {
  for (;;) {
    const bool beat = co_await pause_quietly(options_.lease / 3);
    if (!beat) co_return false;  // cancelled: the handler ended first (nearly always)
    try {
      const bool ours = co_await queue_.extend(job, options_.name, options_.lease);
      if (!ours) co_return true;
    } catch (const PgError&) {  // the database is away: try again at the next beat
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
      say(options_.name, fmt::format("job {} ({} {}) attempt {}: {}{}", job.id, job.kind,
                                     job.payload, job.attempts, error.empty() ? "done" : error,
                                     ours ? "" : " (lease lost meanwhile: not recorded)"));
      co_return;
    } catch (const PgError& e) {
      say(options_.name, fmt::format("job {}: cannot record its end ({})", job.id, e.what()));
    }
    co_await pause(reconnect_delay(options_, failures));
  }
}

}  // namespace lesson031
