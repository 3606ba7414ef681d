#pragma once
// Running third-party decoders where they cannot take the process down. Debian's GDCM is built
// with assertions, so a hostile file can abort() inside the parser; a corrupt stream may also
// make a decoder loop. Work on untrusted files therefore runs in a forked child with a time
// limit, and the parent turns a crash or a hang into an error naming the file.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ischia {

struct ChildOutcome {
  bool ok = false;       // the child returned 0
  bool crashed = false;  // killed by a signal (abort, segfault) or by the time limit
  std::vector<std::string> outputs;  // each message the child sent, in order
  std::string message;   // the child's error message, or why it died
};

using ChildSend = std::function<void(const std::string& bytes)>;

// Runs `work` in a forked child, stopped if it sends nothing for `timeoutSeconds`; its address
// space is limited to what it has now plus
// `extraMemoryBytes` (a hostile header then fails an allocation instead of exhausting the
// machine). `work` streams results to the parent with `send`, returns 0 on success, or throws
// (the exception's text becomes `message`). Large pixel buffers are better handed back through
// a SharedBuffer made before the call.
ChildOutcome RunInChild(const std::function<int(const ChildSend& send)>& work,
                        double timeoutSeconds, std::uint64_t extraMemoryBytes);

// Runs each of `works` in its own forked child, all at once (one per core is the caller's
// choice), with the same time limit and memory allowance each; the outcomes in order.
std::vector<ChildOutcome> RunInChildren(
    const std::vector<std::function<int(const ChildSend& send)>>& works, double timeoutSeconds,
    std::uint64_t extraMemoryBytes);

// Anonymous shared memory that a forked child writes and the parent reads.
class SharedBuffer {
 public:
  explicit SharedBuffer(std::size_t bytes);
  ~SharedBuffer();
  SharedBuffer(const SharedBuffer&) = delete;
  SharedBuffer& operator=(const SharedBuffer&) = delete;
  void* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ischia
