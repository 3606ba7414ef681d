// The inspect command end to end: exit codes, JSON, messages naming the path.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "command_capture.h"

namespace {

struct CliRun {
  int exitCode;
  std::string out;
};

CliRun RunCli(const std::string& args) {
  const auto r = ischia::test::RunCommand(std::string(ISCHIA_CLI) + " " + args + " 2>&1");
  return {r.exitCode, r.output};
}

}  // namespace

TEST(CliInspect, MissingPathExitsTwoAndNamesIt) {
  const CliRun r = RunCli("inspect /no/such/folder-xyz");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.out.find("/no/such/folder-xyz"), std::string::npos) << r.out;
}

TEST(CliInspect, FolderWithoutImagesExitsTwo) {
  const auto dir = std::filesystem::temp_directory_path() / "ischia-cli-empty";
  std::filesystem::create_directories(dir);
  { std::FILE* f = std::fopen((dir / "notes.txt").c_str(), "w"); std::fputs("not dicom", f); std::fclose(f); }
  const CliRun r = RunCli("inspect " + dir.string());
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.out.find("no readable DICOM images"), std::string::npos) << r.out;
}

TEST(CliInspect, UsageErrorExitsTwo) { EXPECT_EQ(RunCli("inspect").exitCode, 2); }

TEST(CliInspect, JsonDescribesTheRealStudy) {
  const CliRun r = RunCli("inspect --json " ISCHIA_SHARED_DATA "/real-pelvis/ProstateX-0001 2>/dev/null");
  ASSERT_EQ(r.exitCode, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["schema"], "ischia.inspect/1");
  ASSERT_EQ(j["studies"].size(), 1u);
  int localizers = 0;
  for (const auto& s : j["studies"][0]["stacks"]) {
    localizers += s["role"] == "localizer";
    EXPECT_FALSE(s["role_reason"].get<std::string>().empty());
    EXPECT_EQ(s["direction"].size(), 9u);
  }
  EXPECT_EQ(localizers, 7);
}

TEST(CliInspect, TableNamesBrokenFilesAndExitsZero) {
  const CliRun r = RunCli("inspect " ISCHIA_SHARED_DATA "/edge-cases/pydicom");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_NE(r.out.find("MR_truncated.dcm: truncated"), std::string::npos);
  EXPECT_NE(r.out.find("Unreadable"), std::string::npos);
}
