// Test support: a temporary folder, removed with everything in it when the object goes. The
// one such folder of every test (files a lesson copies, a script for python3, a browser's
// profile). Not teaching code.
//
//     tut::test::TempDir dir("test_024");
//     write_file(dir / "in.bin", data);                        // a path in it, as a string
//     const std::string script = dir.file("client.py", text);  // a file written in it
#pragma once

#include <filesystem>
#include <string>

namespace tut::test {

class TempDir {
 public:
  /// Makes a new folder `<temporary folder>/<prefix>.XXXXXX` (mkdtemp), mode 0755 as mkdir
  /// would make it (mkdtemp's is 0700). Throws std::system_error if it cannot.
  explicit TempDir(const std::string& prefix);
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// Removes it and everything in it, also below folders a test made read-only.
  ~TempDir();

  const std::filesystem::path& path() const { return path_; }
  /// The path of `name` in it.
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  /// Writes `content` to the file `name` in it (binary, replacing it); returns its path.
  std::string file(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

}  // namespace tut::test
