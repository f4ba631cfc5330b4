// Test support: the WebSocket peers no lesson wrote, which the tests of 026 and 029 talk to:
// headless Chromium and Debian's Python `websockets` library. Not teaching code.
//
//     if (!tut::test::chromium_available()) return;   // skips, or fails under TUTORIAL_NO_SKIP
//     tut::test::HeadlessChromium browser("026", "http://127.0.0.1:" + port + "/");
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "program.hpp"
#include "temp_dir.hpp"

namespace tut::test {

/// Whether Debian's /usr/bin/python3 can import `websockets` (a python3 earlier on PATH may
/// not see Debian's packages): tut::test::peer_available() with the reason, as below.
bool python_websockets_available();

/// Whether /usr/bin/chromium is there: tut::test::peer_available() with the reason, so a test
/// returns (skipped) on a machine without it, and fails under TUTORIAL_NO_SKIP.
bool chromium_available();

/// Headless Chromium loading `url`, with a fresh profile folder, in a process group of its own
/// (it starts helpers): the destructor ends the whole group (SIGTERM, then SIGKILL past 20 s)
/// and removes the profile. Its output goes to /dev/null.
class HeadlessChromium {
 public:
  /// `name` goes into its profile folder's name (tut::test::TempDir: a new one each time).
  HeadlessChromium(const std::string& name, const std::string& url);
  HeadlessChromium(const HeadlessChromium&) = delete;
  HeadlessChromium& operator=(const HeadlessChromium&) = delete;
  ~HeadlessChromium();

  pid_t pid() const { return program_->pid(); }

 private:
  TempDir profile_;  // declared first: removed after the browser has ended
  std::optional<Program> program_;
};

}  // namespace tut::test
