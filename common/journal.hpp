// Journal: what the demo's tasks did, in order, so that a test can check who finished, who
// failed and who was cancelled, and that none is still running once a wait has returned.
// Lessons 003-005 share it: a task calls journal->record("b", "cancelled") as it goes.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace tut {

/// Events as "name: what" strings, oldest first. Shared with the tasks through a shared_ptr,
/// so it outlives them; single-threaded, like the io_context that runs them.
class Journal {
 public:
  /// Records "name: what". "started" marks `name` as running; "done", "failed" and
  /// "cancelled" mark it as ended. Any other event ("released", "step 1 done") is only noted.
  void record(const std::string& name, const std::string& what) {
    events_.push_back(name + ": " + what);
    if (what == "started") {
      running_.push_back(name);
    } else if (what == "done" || what == "failed" || what == "cancelled") {
      auto found = std::find(running_.begin(), running_.end(), name);
      if (found != running_.end()) running_.erase(found);
    }
  }

  /// Did `name` record `what`? saw("b", "cancelled").
  bool saw(const std::string& name, const std::string& what) const {
    return std::find(events_.begin(), events_.end(), name + ": " + what) != events_.end();
  }

  /// Every event, oldest first: {"b: started", "b: done"}.
  const std::vector<std::string>& events() const { return events_; }

  /// The names that recorded `what`, in the order they did: names_that("cancelled").
  std::vector<std::string> names_that(const std::string& what) const {
    std::vector<std::string> names;
    const std::string suffix = ": " + what;
    for (const auto& event : events_)
      if (event.size() > suffix.size() && event.ends_with(suffix))
        names.push_back(event.substr(0, event.size() - suffix.size()));
    return names;
  }

  /// How many tasks recorded "started" and have not yet ended.
  int running() const { return static_cast<int>(running_.size()); }

 private:
  std::vector<std::string> events_;
  std::vector<std::string> running_;  // names started and not yet ended
};

}  // namespace tut
