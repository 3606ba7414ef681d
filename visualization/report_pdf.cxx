// report.pdf: report.html printed by headless Chromium in its own process group, killed on
// time-out, written under a temporary name and renamed.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "report.h"

namespace ischia {
namespace fs = std::filesystem;

namespace {

std::string FileUrl(const fs::path& file) {
  static const char* kHex = "0123456789ABCDEF";
  std::string url = "file://";
  for (unsigned char c : fs::absolute(file).lexically_normal().string()) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      url += static_cast<char>(c);
    } else {
      url += '%', url += kHex[c >> 4], url += kHex[c & 15];
    }
  }
  return url;
}

// The last line of Chromium's log that says something (its D-Bus complaints are noise here).
std::string LastLogLine(const fs::path& log) {
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.empty() || line.find("dbus") != std::string::npos ||
        line.find("bytes written") != std::string::npos) {
      continue;
    }
    last = line;
  }
  if (last.size() > 300) last = last.substr(0, 300) + "…";
  return last;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ischia-chromium-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

}  // namespace

fs::path FindChromium() {
  if (const char* env = std::getenv("ISCHIA_CHROMIUM"); env && *env) {
    return ::access(env, X_OK) == 0 ? fs::path(env) : fs::path();
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (const char* name :
       {"chromium", "chromium-headless-shell", "chromium-browser", "google-chrome"}) {
    std::size_t start = 0;
    while (start <= dirs.size()) {
      std::size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
      if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
      start = end + 1;
    }
  }
  return {};
}

bool PrintHtmlToPdf(const fs::path& html, const fs::path& pdf, const fs::path& chromiumIn,
                    double timeoutS, std::string* why) {
  auto fail = [&](const std::string& text) {
    if (why) *why = text;
    return false;
  };
  const fs::path chromium = chromiumIn.empty() ? FindChromium() : chromiumIn;
  if (chromium.empty()) {
    return fail(
        "Chromium not found (install the Debian package chromium, as scripts/setup.sh does, "
        "or set ISCHIA_CHROMIUM)");
  }
  TempDir tmp;
  if (tmp.path.empty())
    return fail(std::string("cannot create a temporary folder: ") + std::strerror(errno));
  const fs::path partial = pdf.string() + ".partial-" + std::to_string(::getpid());
  const fs::path log = tmp.path / "chromium.log";
  std::vector<std::string> args = {chromium.string(),
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-dev-shm-usage",
                                   "--user-data-dir=" + (tmp.path / "profile").string(),
                                   "--no-pdf-header-footer",
                                   "--print-to-pdf=" + partial.string(),
                                   FileUrl(html)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Everything the child needs is prepared before fork(): it only calls async-signal-safe
  // functions.
  const int logFd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int nullFd = ::open("/dev/null", O_RDONLY);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    if (logFd >= 0) ::close(logFd);
    if (nullFd >= 0) ::close(nullFd);
    return fail(std::string("cannot start Chromium: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group: a time-out kills Chromium's helpers too
    if (nullFd >= 0) ::dup2(nullFd, 0);
    if (logFd >= 0) ::dup2(logFd, 1), ::dup2(logFd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  if (logFd >= 0) ::close(logFd);
  if (nullFd >= 0) ::close(nullFd);
  int status = 0;
  bool timedOut = false;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
        timeoutS) {
      timedOut = true;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(-pid, SIGKILL);  // helpers left behind by the browser process, if any
  std::error_code ec;
  auto cleanup = [&] { fs::remove(partial, ec); };
  if (timedOut) {
    cleanup();
    return fail("Chromium did not finish within " + std::to_string(static_cast<int>(timeoutS)) +
                " s and was killed");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    cleanup();
    const std::string last = LastLogLine(log);
    return fail((WIFEXITED(status)
                     ? "Chromium exited with status " + std::to_string(WEXITSTATUS(status))
                     : "Chromium was killed by signal " + std::to_string(WTERMSIG(status))) +
                (last.empty() ? "" : ": " + last));
  }
  std::ifstream in(partial, std::ios::binary);
  char head[5] = {};
  if (!in || !in.read(head, 5) || std::string(head, 5) != "%PDF-") {
    cleanup();
    const std::string last = LastLogLine(log);
    return fail("Chromium wrote no PDF" + (last.empty() ? std::string() : ": " + last));
  }
  in.close();
  // fsync before the rename, as every other output of the run.
  if (const int fd = ::open(partial.c_str(), O_RDONLY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  fs::rename(partial, pdf, ec);
  if (ec) {
    cleanup();
    return fail("cannot rename the PDF into place: " + ec.message());
  }
  return true;
}

}  // namespace ischia
