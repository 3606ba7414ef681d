// Reading pixel data of an ImageStack (any transfer syntax GDCM decodes) into a float volume.
#include "volume_reader.h"

#include "isolation.h"

#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmPixelFormat.h>
#include <gdcmTrace.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <vector>

namespace ischia {

namespace {

std::uint64_t ReadUnsigned(const char* path, const char* key) {
  std::ifstream in(path);
  if (!in) return 0;
  if (!key) {
    std::string v;
    in >> v;
    if (v.empty() || v == "max") return 0;
    return std::stoull(v);
  }
  std::string name;
  while (in >> name) {
    std::uint64_t value = 0;
    std::string unit;
    in >> value;
    std::getline(in, unit);
    if (name == key) return unit.find("kB") != std::string::npos ? value * 1024 : value;
  }
  return 0;
}

std::string Describe(const ImageStack& s) {
  return "series " + std::to_string(s.seriesNumber) + " '" + s.seriesDescription + "'" +
         (s.splitLabel.empty() ? "" : " [" + s.splitLabel + "]") + " (" + s.seriesInstanceUid + ")";
}

// Converts stored values of one frame to float, applying bits stored and rescale.
template <typename T>
void ConvertFrame(const char* src, std::size_t count, unsigned bitsStored, bool isSigned,
                  double slope, double intercept, float* dst) {
  const T* p = reinterpret_cast<const T*>(src);
  const unsigned bits = sizeof(T) * 8;
  const bool mask = bitsStored > 0 && bitsStored < bits;
  for (std::size_t i = 0; i < count; ++i) {
    double v;
    if constexpr (std::is_integral_v<T>) {
      std::int64_t raw = static_cast<std::int64_t>(p[i]);
      if (mask) {
        std::uint64_t u = static_cast<std::uint64_t>(
                              static_cast<std::make_unsigned_t<T>>(p[i])) &
                          ((std::uint64_t(1) << bitsStored) - 1);
        if (isSigned && (u >> (bitsStored - 1)) & 1u) u |= ~((std::uint64_t(1) << bitsStored) - 1);
        raw = static_cast<std::int64_t>(u);
      }
      v = static_cast<double>(raw);
    } else {
      v = static_cast<double>(p[i]);
    }
    dst[i] = static_cast<float>(v * slope + intercept);
  }
}


// The DCMTK decoder program: beside the running executable, or one folder up (tests).
std::string FallbackDecoderPath() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const auto& dir : {self.parent_path(), self.parent_path().parent_path()}) {
    const auto candidate = dir / "ischia-dcmtk-decode";
    if (std::filesystem::exists(candidate, ec)) return candidate.string();
  }
  return {};
}

// Decodes `frames` of one file with GDCM (every transfer syntax ITK reads), falling back to
// DCMTK's codecs where GDCM refuses a stream (e.g. some JPEG-LS encoders); applies bits stored
// and rescale. Writes frames.size() slices of nx*ny floats to `dst`. Throws on failure.
void DecodeFrames(const std::string& path, unsigned nx, unsigned ny, const std::vector<int>& frames,
                  const std::vector<std::pair<double, double>>& rescale, float* dst, bool useGdcm) {
  const std::size_t sliceVoxels = std::size_t(nx) * ny;
  std::string gdcmError = "GDCM failed on this file";
  if (useGdcm) {
    gdcm::Trace::WarningOff();
    gdcm::Trace::DebugOff();
    gdcm::Trace::ErrorOff();
    gdcm::ImageReader reader;
    reader.SetFileName(path.c_str());
    if (reader.Read()) {
      const gdcm::Image& img = reader.GetImage();
      const gdcm::PixelFormat pf = img.GetPixelFormat();
      if (pf.GetSamplesPerPixel() != 1) throw std::runtime_error("colour pixel data is not supported");
      if (img.GetColumns() != nx || img.GetRows() != ny)
        throw std::runtime_error("pixel data is " + std::to_string(img.GetColumns()) + "x" +
                                 std::to_string(img.GetRows()) + ", the header says " +
                                 std::to_string(nx) + "x" + std::to_string(ny));
      std::vector<char> buffer(img.GetBufferLength());
      if (img.GetBuffer(buffer.data())) {
        const std::size_t frameBytes = sliceVoxels * pf.GetPixelSize();
        const unsigned stored = pf.GetBitsStored();
        const bool isSigned = pf.GetPixelRepresentation() == 1;
        for (std::size_t k = 0; k < frames.size(); ++k) {
          const std::size_t offset = std::size_t(frames[k]) * frameBytes;
          if (offset + frameBytes > buffer.size())
            throw std::runtime_error("pixel data too short for frame " +
                                     std::to_string(frames[k] + 1) + " (truncated)");
          const char* src = buffer.data() + offset;
          float* out = dst + k * sliceVoxels;
          const double a = rescale[k].first, b = rescale[k].second;
          switch (pf.GetScalarType()) {
            case gdcm::PixelFormat::UINT8: ConvertFrame<std::uint8_t>(src, sliceVoxels, stored, false, a, b, out); break;
            case gdcm::PixelFormat::INT8: ConvertFrame<std::int8_t>(src, sliceVoxels, stored, true, a, b, out); break;
            case gdcm::PixelFormat::UINT12:
            case gdcm::PixelFormat::UINT16: ConvertFrame<std::uint16_t>(src, sliceVoxels, stored, false, a, b, out); break;
            case gdcm::PixelFormat::INT12:
            case gdcm::PixelFormat::INT16: ConvertFrame<std::int16_t>(src, sliceVoxels, stored, isSigned, a, b, out); break;
            case gdcm::PixelFormat::UINT32: ConvertFrame<std::uint32_t>(src, sliceVoxels, stored, false, a, b, out); break;
            case gdcm::PixelFormat::INT32: ConvertFrame<std::int32_t>(src, sliceVoxels, stored, isSigned, a, b, out); break;
            case gdcm::PixelFormat::FLOAT32: ConvertFrame<float>(src, sliceVoxels, 0, true, a, b, out); break;
            case gdcm::PixelFormat::FLOAT64: ConvertFrame<double>(src, sliceVoxels, 0, true, a, b, out); break;
            default:
              throw std::runtime_error(std::string("unsupported pixel format ") +
                                       pf.GetScalarTypeAsString());
          }
        }
        return;
      }
      gdcmError = "GDCM could not decode the pixel data";
    } else {
      gdcmError = "GDCM could not read the file";
    }
  }
  // DCMTK fallback (JPEG, JPEG-LS, RLE), in its own program (see dcmtk_decode_main.cxx).
  const std::string helper = FallbackDecoderPath();
  if (helper.empty()) throw std::runtime_error(gdcmError + "; no fallback decoder installed");
  std::string quoted = "'";
  for (char c : path) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  FILE* pipe = ::popen((helper + " " + quoted + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error(gdcmError + "; cannot start " + helper);
  char header[256] = {};
  if (!std::fgets(header, sizeof header, pipe)) {
    ::pclose(pipe);
    throw std::runtime_error(gdcmError + "; DCMTK produced nothing");
  }
  unsigned bitsAllocated = 0, bitsStored = 0, pixelRep = 0;
  unsigned long count = 0;
  if (std::sscanf(header, "%u %u %u %lu", &bitsAllocated, &bitsStored, &pixelRep, &count) != 4) {
    ::pclose(pipe);
    std::string why = header;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw std::runtime_error(gdcmError + "; " + why);
  }
  const std::size_t bytesPerSample = bitsAllocated == 8 ? 1 : 2;
  std::vector<char> raw(count * bytesPerSample);
  const std::size_t got = std::fread(raw.data(), 1, raw.size(), pipe);
  ::pclose(pipe);
  if (got != raw.size()) throw std::runtime_error(gdcmError + "; DCMTK output cut short");
  const bool isSigned = pixelRep == 1;
  for (std::size_t k = 0; k < frames.size(); ++k) {
    float* out = dst + k * sliceVoxels;
    const double a = rescale[k].first, b = rescale[k].second;
    const std::size_t first = std::size_t(frames[k]) * sliceVoxels;
    if (first + sliceVoxels > count) throw std::runtime_error(gdcmError + "; DCMTK found too little pixel data");
    const char* src = raw.data() + first * bytesPerSample;
    if (bytesPerSample == 1) {
      if (isSigned) ConvertFrame<std::int8_t>(src, sliceVoxels, bitsStored, true, a, b, out);
      else ConvertFrame<std::uint8_t>(src, sliceVoxels, bitsStored, false, a, b, out);
    } else {
      if (isSigned) ConvertFrame<std::int16_t>(src, sliceVoxels, bitsStored, true, a, b, out);
      else ConvertFrame<std::uint16_t>(src, sliceVoxels, bitsStored, false, a, b, out);
    }
  }
}

}  // namespace

std::uint64_t AvailableMemoryBytes() {
  std::uint64_t available = ReadUnsigned("/proc/meminfo", "MemAvailable:");
  if (available == 0) available = std::uint64_t(1) << 32;
  const std::uint64_t cgMax = ReadUnsigned("/sys/fs/cgroup/memory.max", nullptr);
  const std::uint64_t cgCur = ReadUnsigned("/sys/fs/cgroup/memory.current", nullptr);
  if (cgMax > 0 && cgMax > cgCur) available = std::min(available, cgMax - cgCur);
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    available = std::min<std::uint64_t>(available, limit.rlim_cur);
  return available;
}

void CheckStackSize(const ImageStack& stack, const VolumeReadOptions& options) {
  if (stack.slices.empty()) throw std::runtime_error(Describe(stack) + ": no slices");
  const FrameInfo& f = stack.slices.front();
  const std::string where = Describe(stack) + ", file " + f.path;
  if (f.rows == 0 || f.columns == 0 || f.rows > options.maxRowsOrColumns ||
      f.columns > options.maxRowsOrColumns) {
    throw std::runtime_error(where + ": refused: header declares " + std::to_string(f.columns) +
                             "x" + std::to_string(f.rows) + " pixels per slice (limit " +
                             std::to_string(options.maxRowsOrColumns) + ")");
  }
  const std::vector<int> idx = stack.SliceGridIndices();
  const std::uint64_t slices = static_cast<std::uint64_t>(idx.empty() ? 0 : idx.back() + 1);
  if (slices > options.maxSlices) {
    throw std::runtime_error(where + ": refused: " + std::to_string(slices) +
                             " slices in the grid (limit " + std::to_string(options.maxSlices) +
                             ")");
  }
  std::uint64_t largestFile = 0;
  for (const FrameInfo& s : stack.slices) {
    largestFile = std::max<std::uint64_t>(
        largestFile, std::uint64_t(s.rows) * s.columns * s.samplesPerPixel *
                         ((s.bitsAllocated + 7) / 8) * std::uint64_t(std::max(1, s.numberOfFrames)));
  }
  const std::uint64_t need = std::uint64_t(f.rows) * f.columns * slices * sizeof(float) + largestFile;
  const std::uint64_t available = AvailableMemoryBytes();
  if (static_cast<double>(need) > options.maxFractionOfAvailableMemory * static_cast<double>(available)) {
    throw std::runtime_error(where + ": refused: the volume needs " +
                             std::to_string(need >> 20) + " MiB, more than " +
                             std::to_string(static_cast<int>(options.maxFractionOfAvailableMemory * 100)) +
                             "% of the " + std::to_string(available >> 20) + " MiB available");
  }
}

FloatImage::Pointer ReadStackVolume(const ImageStack& stack, const VolumeReadOptions& options) {
  CheckStackSize(stack, options);
  const FrameInfo& first = stack.slices.front();
  if (!first.hasGeometry)
    throw std::runtime_error(Describe(stack) + ": no patient geometry, cannot form a volume");
  if (first.samplesPerPixel != 1)
    throw std::runtime_error(Describe(stack) + ", file " + first.path +
                             ": colour images are not supported");
  if (stack.irregularSpacing) {
    std::string why = stack.problems.empty() ? "irregular slice spacing" : stack.problems.front();
    throw std::runtime_error(Describe(stack) + ": cannot form a volume: " + why);
  }
  if (stack.missingSlices > 0 && !options.allowMissingSlices)
    throw std::runtime_error(Describe(stack) + ": " + std::to_string(stack.missingSlices) +
                             " slice(s) missing");

  const std::vector<int> gridIndex = stack.SliceGridIndices();
  const unsigned nx = stack.columns, ny = stack.rows;
  const unsigned nz = static_cast<unsigned>(gridIndex.back() + 1);

  auto image = FloatImage::New();
  FloatImage::RegionType region;
  region.SetSize({{nx, ny, nz}});
  image->SetRegions(region);
  FloatImage::SpacingType spacing;
  FloatImage::PointType origin;
  FloatImage::DirectionType direction;
  for (unsigned i = 0; i < 3; ++i) {
    spacing[i] = stack.spacing[i];
    origin[i] = stack.origin[i];
    for (unsigned j = 0; j < 3; ++j) direction[i][j] = stack.direction[i][j];
  }
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  image->Allocate();
  image->FillBuffer(0.0f);
  float* out = image->GetBufferPointer();
  const std::size_t sliceVoxels = std::size_t(nx) * ny;

  // Read each file once (multi-frame files hold several slices). Decoding runs in a child
  // process so that a decoder crash or hang on a corrupt file becomes an error naming that
  // file: all files in `decodeProcesses` children first (each a contiguous share of the files),
  // and file by file (GDCM, then DCMTK) if any of them fails.
  struct FileJob {
    std::string path;
    std::vector<int> frames;
    std::vector<std::pair<double, double>> rescale;
    std::vector<std::size_t> slots;  // grid slice of each frame
    std::uint64_t decodedBytes = 0;  // the file's full decoded size
  };
  std::map<std::string, FileJob> jobsByPath;
  for (std::size_t i = 0; i < stack.slices.size(); ++i) {
    const FrameInfo& f = stack.slices[i];
    FileJob& job = jobsByPath[f.path];
    job.path = f.path;
    job.frames.push_back(f.frameIndex);
    job.rescale.emplace_back(f.rescaleSlope, f.rescaleIntercept);
    job.slots.push_back(static_cast<std::size_t>(gridIndex[i]));
    job.decodedBytes = std::uint64_t(sliceVoxels) * 8 * std::uint64_t(std::max(1, f.numberOfFrames));
  }
  std::uint64_t largestFile = 0;
  for (const auto& [path, job] : jobsByPath) largestFile = std::max(largestFile, job.decodedBytes);
  const std::uint64_t childMemory = 4 * largestFile + (std::uint64_t(512) << 20);

  SharedBuffer shared(std::size_t(nz) * sliceVoxels * sizeof(float));
  float* grid = static_cast<float*>(shared.data());
  auto decodeInto = [&](const FileJob& job, bool useGdcm) {
    std::vector<float> frames(job.frames.size() * sliceVoxels);
    DecodeFrames(job.path, nx, ny, job.frames, job.rescale, frames.data(), useGdcm);
    for (std::size_t k = 0; k < job.slots.size(); ++k)
      std::copy_n(frames.data() + k * sliceVoxels, sliceVoxels, grid + job.slots[k] * sliceVoxels);
  };
  std::vector<const FileJob*> jobs;
  for (const auto& [path, job] : jobsByPath) jobs.push_back(&job);
  const std::size_t shares =
      std::clamp<std::size_t>(static_cast<std::size_t>(std::max(1, options.decodeProcesses)), 1,
                              std::max<std::size_t>(1, jobs.size()));
  std::vector<std::function<int(const ChildSend&)>> works;
  for (std::size_t w = 0; w < shares; ++w) {
    works.push_back([&, begin = jobs.size() * w / shares,
                     end = jobs.size() * (w + 1) / shares](const ChildSend& send) {
      for (std::size_t i = begin; i < end; ++i) {
        decodeInto(*jobs[i], true);
        send({});  // progress: one file done
      }
      return 0;
    });
  }
  const std::vector<ChildOutcome> all = RunInChildren(works, options.decodeTimeoutSeconds, childMemory);
  if (!std::all_of(all.begin(), all.end(), [](const ChildOutcome& o) { return o.ok; })) {
    for (const auto& [path, job] : jobsByPath) {
      auto decode = [&, job = &job](bool useGdcm) {
        return RunInChild(
            [&](const ChildSend&) {
              decodeInto(*job, useGdcm);
              return 0;
            },
            options.decodeTimeoutSeconds, childMemory);
      };
      ChildOutcome outcome = decode(true);
      // GDCM aborts on some valid streams it does not expect; DCMTK's decoders get a try.
      if (outcome.crashed) {
        const ChildOutcome second = decode(false);
        if (second.ok) outcome = second;
        else outcome.message += "; DCMTK: " + second.message;
      }
      if (!outcome.ok)
        throw std::runtime_error(path + ": cannot decode pixel data: " + outcome.message);
    }
  }
  std::copy_n(grid, std::size_t(nz) * sliceVoxels, out);
  return image;
}

}  // namespace ischia
