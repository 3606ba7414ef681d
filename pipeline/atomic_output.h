#pragma once
// Atomic outputs: write to a temporary name in the same folder, flush, then rename, so a killed
// run never leaves a file that looks complete.
#include <filesystem>
#include <functional>
#include <string>

namespace ischia {

// Writes `content` to `path` atomically.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& content);

// Creates `finalDir` atomically: `fill` populates a temporary sibling folder which is then
// renamed into place (replacing an existing `finalDir`).
void CreateDirectoryAtomically(const std::filesystem::path& finalDir,
                               const std::function<void(const std::filesystem::path&)>& fill);

}  // namespace ischia
