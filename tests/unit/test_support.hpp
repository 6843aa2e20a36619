#pragma once
// Helpers shared by the unit tests (header only: the CMake glob builds *_test.cpp files).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

namespace shardline::test {

// A fresh directory that is removed again when the object goes away.
class TempDir {
public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "shardline-unit-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  std::filesystem::path write(const std::string& name, std::string_view text) const {
    auto p = path_ / name;
    std::ofstream out(p, std::ios::binary);
    out << text;
    return p;
  }

private:
  std::filesystem::path path_;
};

// Changes the working directory for the lifetime of the object (config loading looks for
// ./.env and ./config.json there).
class ScopedCwd {
public:
  explicit ScopedCwd(const std::filesystem::path& dir) : old_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~ScopedCwd() {
    std::error_code ec;
    std::filesystem::current_path(old_, ec);
  }

private:
  std::filesystem::path old_;
};

} // namespace shardline::test
