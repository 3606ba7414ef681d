#include "atomic_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace ischia {
namespace fs = std::filesystem;

namespace {
std::string TempSuffix() { return ".partial-" + std::to_string(::getpid()); }
}  // namespace

void WriteFileAtomically(const fs::path& path, const std::string& content) {
  const fs::path tmp = path.string() + TempSuffix();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + tmp.string() + ": " + why);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot flush " + tmp.string() + ": " + std::strerror(errno));
  }
  fs::rename(tmp, path);
}

void CreateDirectoryAtomically(const fs::path& finalDir,
                               const std::function<void(const fs::path&)>& fill) {
  const fs::path absolute = fs::absolute(finalDir);
  fs::create_directories(absolute.parent_path());
  const fs::path tmp = absolute.string() + TempSuffix();
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    fill(tmp);
  } catch (...) {
    fs::remove_all(tmp);
    throw;
  }
  if (fs::exists(absolute)) {
    const fs::path old = absolute.string() + ".old" + TempSuffix();
    fs::rename(absolute, old);
    fs::rename(tmp, absolute);
    fs::remove_all(old);
  } else {
    fs::rename(tmp, absolute);
  }
}

}  // namespace ischia
