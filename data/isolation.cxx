#include "isolation.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace ischia {

SharedBuffer::SharedBuffer(std::size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  data_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (data_ == MAP_FAILED) {
    data_ = nullptr;
    throw std::runtime_error("cannot map " + std::to_string(bytes >> 20) +
                             " MiB of shared memory: " + std::strerror(errno));
  }
}

SharedBuffer::~SharedBuffer() {
  if (data_) ::munmap(data_, size_);
}

namespace {

bool WriteAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

std::uint64_t CurrentVirtualBytes() {
  long pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

namespace {

// One forked child: its pid, the read end of its pipe, what it has sent so far.
struct Child {
  pid_t pid = -1;
  int fd = -1;
  std::string raw;
  std::chrono::steady_clock::time_point deadline;
  bool timedOut = false;
};

// Forks a child that runs `work` (see RunInChild) and returns its pid and the pipe's read end.
Child StartChild(const std::function<int(const ChildSend&)>& work, std::uint64_t memoryLimit) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    // Codec libraries print to stderr; what matters reaches the parent through the pipe.
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      ::dup2(devnull, STDERR_FILENO);
      ::close(devnull);
    }
    rlimit limit{memoryLimit, memoryLimit};
    ::setrlimit(RLIMIT_AS, &limit);
    // Frame: one tag byte ('d' data, 'e' error message), 8-byte length, payload.
    auto frame = [&](char tag, const std::string& bytes) {
      const std::uint64_t n = bytes.size();
      if (!WriteAll(fds[1], &tag, 1) || !WriteAll(fds[1], reinterpret_cast<const char*>(&n), 8) ||
          !WriteAll(fds[1], bytes.data(), bytes.size()))
        ::_exit(3);
    };
    int code = 1;
    try {
      code = work([&](const std::string& bytes) { frame('d', bytes); });
    } catch (const std::bad_alloc&) {
      frame('e', "out of memory: the data declares more than the reader may allocate");
      code = 1;
    } catch (const std::exception& e) {
      frame('e', e.what());
      code = 1;
    } catch (...) {
      frame('e', "unknown error");
      code = 1;
    }
    ::_exit(code == 0 ? 0 : 1);
  }
  ::close(fds[1]);
  Child child;
  child.pid = pid;
  child.fd = fds[0];
  return child;
}

// Waits for a finished (or killed) child and turns its exit and messages into an outcome.
ChildOutcome Collect(Child& child, double timeoutSeconds) {
  if (child.fd >= 0) ::close(child.fd);
  if (child.timedOut) ::kill(child.pid, SIGKILL);
  int status = 0;
  while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  ChildOutcome outcome;
  if (child.timedOut) {
    outcome.crashed = true;
    outcome.message = "gave up after " + std::to_string(static_cast<int>(timeoutSeconds)) +
                      " s (the reader hung)";
  } else if (WIFSIGNALED(status)) {
    outcome.crashed = true;
    outcome.message = std::string("the reader crashed (") + ::strsignal(WTERMSIG(status)) +
                      ") on malformed data";
  } else {
    outcome.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  // Unframe what arrived (a crash may cut the last frame short: it is dropped).
  const std::string& raw = child.raw;
  std::size_t pos = 0;
  while (pos + 9 <= raw.size()) {
    const char tag = raw[pos];
    std::uint64_t n = 0;
    std::memcpy(&n, raw.data() + pos + 1, 8);
    if (pos + 9 + n > raw.size()) break;
    const std::string payload = raw.substr(pos + 9, n);
    if (tag == 'd') outcome.outputs.push_back(payload);
    else if (!outcome.crashed) outcome.message = payload;
    pos += 9 + n;
  }
  if (!outcome.ok && !outcome.crashed && outcome.message.empty())
    outcome.message = "the reader failed";
  return outcome;
}

}  // namespace

std::vector<ChildOutcome> RunInChildren(const std::vector<std::function<int(const ChildSend&)>>& works,
                                        double timeoutSeconds, std::uint64_t extraMemoryBytes) {
  using Clock = std::chrono::steady_clock;
  const auto timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(timeoutSeconds));
  // All children are forked from this thread, each after the previous one's write end was
  // closed here, so that no child holds another's pipe open.
  const std::uint64_t memoryLimit = CurrentVirtualBytes() + extraMemoryBytes;
  std::vector<Child> children;
  try {
    for (const auto& work : works) {
      children.push_back(StartChild(work, memoryLimit));
      children.back().deadline = Clock::now() + timeout;
    }
  } catch (...) {
    for (Child& c : children) {
      c.timedOut = true;  // killed and reaped
      Collect(c, timeoutSeconds);
    }
    throw;
  }
  char buf[4096];
  for (;;) {
    std::vector<pollfd> polls;
    std::vector<Child*> open;
    auto wait = std::chrono::milliseconds(1000);
    for (Child& c : children) {
      if (c.fd < 0) continue;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - Clock::now());
      if (left.count() <= 0) {  // silent for too long: stopped in Collect
        c.timedOut = true;
        ::close(c.fd);
        c.fd = -1;
        continue;
      }
      wait = std::min(wait, left);
      polls.push_back({c.fd, POLLIN, 0});
      open.push_back(&c);
    }
    if (polls.empty()) break;
    const int r = ::poll(polls.data(), polls.size(), static_cast<int>(wait.count()));
    if (r <= 0) continue;  // EINTR or nothing yet: deadlines are checked above
    for (std::size_t i = 0; i < polls.size(); ++i) {
      if (!polls[i].revents) continue;
      Child& c = *open[i];
      const ssize_t n = ::read(c.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // EOF: the child closed its end (exited)
        ::close(c.fd);
        c.fd = -1;
        continue;
      }
      // The limit is on inactivity: a child that keeps reporting progress may run on.
      c.deadline = Clock::now() + timeout;
      c.raw.append(buf, static_cast<std::size_t>(n));
    }
  }
  std::vector<ChildOutcome> outcomes;
  for (Child& c : children) outcomes.push_back(Collect(c, timeoutSeconds));
  return outcomes;
}

ChildOutcome RunInChild(const std::function<int(const ChildSend&)>& work, double timeoutSeconds,
                        std::uint64_t extraMemoryBytes) {
  return RunInChildren({work}, timeoutSeconds, extraMemoryBytes).front();
}

}  // namespace ischia
