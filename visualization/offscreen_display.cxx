#include "offscreen_display.h"

#include <X11/Xlib.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

namespace ischia {
namespace {

// An Xvfb child process, terminated with this object.
class XvfbProcess {
 public:
  explicit XvfbProcess(pid_t pid) : pid_(pid) {}
  ~XvfbProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 50; ++i) {  // up to 1 s, then force
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      ::usleep(20000);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  XvfbProcess(const XvfbProcess&) = delete;
  XvfbProcess& operator=(const XvfbProcess&) = delete;

 private:
  pid_t pid_;
};

std::unique_ptr<XvfbProcess>& Xvfb() {
  static std::unique_ptr<XvfbProcess> process;
  return process;
}

// Starts Xvfb on a free display it picks itself; returns ":N" or "" with `why`.
std::string StartXvfb(std::string* why) {
  int fds[2];
  if (::pipe(fds) != 0) {
    *why = "cannot create a pipe for Xvfb";
    return "";
  }
  const std::string fdArg = std::to_string(fds[1]);
  const char* argv[] = {"Xvfb",         "-displayfd", fdArg.c_str(), "-screen",  "0",
                        "1920x1200x24", "-nolisten",  "tcp",         "-noreset", nullptr};
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]), ::close(fds[1]);
    *why = "cannot fork to start Xvfb";
    return "";
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec. Dies with the parent.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::close(fds[0]);
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) ::dup2(devnull, 0), ::dup2(devnull, 1), ::dup2(devnull, 2);
    ::setpgid(0, 0);  // not in the caller's process group: a terminal's Ctrl-C goes to ischia
    ::execvp("Xvfb", const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[1]);
  auto process = std::make_unique<XvfbProcess>(pid);
  // Xvfb writes the display number and a newline once it accepts connections.
  std::string number;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool done = false;
  while (!done) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char c;
    const ssize_t r = ::read(fds[0], &c, 1);
    if (r <= 0) break;  // Xvfb exited (not installed, or failed)
    if (c == '\n')
      done = true;
    else
      number += c;
  }
  ::close(fds[0]);
  if (!done || number.empty()) {
    int status = 0;
    const bool exited = ::waitpid(pid, &status, WNOHANG) == pid;
    *why = exited && WIFEXITED(status) && WEXITSTATUS(status) == 127
               ? "Xvfb is not installed (Debian package xvfb)"
               : "Xvfb did not start within 20 s";
    return "";  // `process` kills it
  }
  Xvfb() = std::move(process);
  return ":" + number;
}

}  // namespace

bool DisplayOffersGlx(const std::string& display, std::string* why) {
  Display* d = XOpenDisplay(display.c_str());
  if (!d) {
    if (why) *why = "cannot open X display " + display;
    return false;
  }
  int opcode = 0, event = 0, error = 0;
  const bool glx = XQueryExtension(d, "GLX", &opcode, &event, &error);
  XCloseDisplay(d);
  if (!glx && why) *why = "X display " + display + " has no GLX extension";
  return glx;
}

DisplayStatus EnsureOpenGlDisplay(bool allowXvfb) {
  static std::optional<DisplayStatus> cached;
  if (cached && (cached->usable || !allowXvfb)) return *cached;
  DisplayStatus s;
  const char* env = std::getenv("DISPLAY");
  std::string problem;
  if (env && *env) {
    if (DisplayOffersGlx(env, &problem)) {
      s.usable = true, s.display = env, s.how = "DISPLAY from the environment";
      cached = s;
      return s;
    }
  } else {
    problem = "DISPLAY is not set";
  }
  if (!allowXvfb) {
    s.how = problem;
    cached = s;
    return s;
  }
  std::string why;
  const std::string display = StartXvfb(&why);
  if (!display.empty() && DisplayOffersGlx(display, &why)) {
    ::setenv("DISPLAY", display.c_str(), 1);
    s.usable = true, s.display = display, s.how = "private Xvfb (" + problem + ")";
  } else {
    Xvfb().reset();
    s.how = problem + "; " + why;
  }
  cached = s;
  return s;
}

}  // namespace ischia
