// tut::test::TempDir (tests/support/temp_dir.hpp), the one temporary folder of the tests: a new
// folder each time, files written in it, and everything removed at the end, also what a test
// made read-only or unreadable.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using tut::test::TempDir;

TEST_CASE("TempDir: a new folder each time, files in it, all removed at the end", "[temp_dir]") {
  fs::path kept;
  {
    TempDir one("test_temp_dir");
    TempDir two("test_temp_dir");
    kept = one.path();
    CHECK(one.path() != two.path());
    CHECK(fs::is_directory(one.path()));
    CHECK(one.path().filename().string().starts_with("test_temp_dir."));
    CHECK((fs::status(one.path()).permissions() & fs::perms::all) ==
          (fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
           fs::perms::others_read | fs::perms::others_exec));  // 0755, as mkdir makes it
    const std::string path = one.file("hello.txt", std::string("hi\0there", 8));
    CHECK(path == one / "hello.txt");
    std::stringstream text;
    text << std::ifstream(path, std::ios::binary).rdbuf();
    CHECK(text.str() == std::string("hi\0there", 8));
    // A test may take its own rights away: a read-only folder with a file, an unreadable one.
    fs::create_directories(one / "read-only/inner");
    one.file("read-only/inner/file.txt", "x");
    ::chmod((one / "read-only/inner").c_str(), 0555);
    ::chmod((one / "read-only").c_str(), 0);
    ::chmod(one.path().c_str(), 0555);
  }
  CHECK_FALSE(fs::exists(kept));
}
