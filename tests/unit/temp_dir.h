// A test fixture owning a fresh temporary directory, removed after the test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace sightline::testing {

class TempDirTest : public ::testing::Test {
 protected:
  // `tag` names the directory, so concurrent suites never share one.
  explicit TempDirTest(std::string tag) : tag_(std::move(tag)) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sightline-" + tag_ + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `bytes` to dir/name and returns the path.
  std::string Write(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::string path = dir_ / name;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  std::filesystem::path dir_;

 private:
  std::string tag_;
};

}  // namespace sightline::testing
