#pragma once
// SHA-256 (FIPS 180-4) for fingerprints and study keys: names of output folders must not
// reveal patient identifiers, and resume must recognise the same inputs and settings.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace ischia {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, std::size_t bytes);
  void Update(const std::string& s) { Update(s.data(), s.size()); }
  // Finishes and returns the digest as 64 lower-case hex digits; the object is then spent.
  std::string HexDigest();

 private:
  void Block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t length_ = 0;
};

std::string Sha256Hex(const std::string& data);
// Digest of a file's content; throws std::runtime_error naming the file if it cannot be read.
std::string Sha256File(const std::filesystem::path& path);

}  // namespace ischia
