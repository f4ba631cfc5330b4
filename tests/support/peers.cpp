// The peers of tests/support/peers.hpp.
#include "peers.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace tut::test {

namespace {
const char* const chromium = "/usr/bin/chromium";
}

bool python_websockets_available() {
  return peer_available(
      std::system("/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1") == 0,
      "Debian's /usr/bin/python3 with the websockets library (apt-get install python3-websockets)");
}

bool chromium_available() {
  return peer_available(::access(chromium, X_OK) == 0,
                        "Chromium (apt-get install --no-install-recommends chromium)");
}

HeadlessChromium::HeadlessChromium(const std::string& name, const std::string& url)
    : profile_("test_chromium_" + name) {
  std::vector<std::string> args = {chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                   "--no-first-run", "--user-data-dir=" + profile_.path().string(),
                                   url};
  Program::Options quiet;
  quiet.out = Program::Stdout::null;
  quiet.err = Program::Stderr::null;
  quiet.own_process_group = true;
  program_.emplace(std::move(args), std::move(quiet));
}

HeadlessChromium::~HeadlessChromium() {
  program_->signal(SIGTERM);  // the group this test started, by its id
  program_->wait(std::chrono::seconds(20));
  program_.reset();
}  // then profile_ removes the profile folder

}  // namespace tut::test
