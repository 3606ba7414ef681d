// Image-quality QC (segmentation/image_quality.h): the in-body noise estimate recovers a known
// noise sigma (white and band-limited, Rician magnitude) on a synthetic body; on a generated
// study it agrees with the phantom's own noise (Rayleigh background, exact), and degraded copies
// of that study (more noise; a ghost along the phase-encoding axis) raise the flags the run
// config sets while the clean study and a ghost along the frequency axis do not.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "dicom_ingest.h"
#include "image_quality.h"
#include "phantom.h"
#include "preprocess.h"
#include "run_config.h"
#include "volume_reader.h"

namespace fs = std::filesystem;
using namespace ischia;

namespace {

// An oblique, anisotropic grid (1.0 x 1.25 x 4 mm).
FloatImage::Pointer Grid(unsigned nx, unsigned ny, unsigned nz) {
  auto im = FloatImage::New();
  im->SetRegions(FloatImage::RegionType(FloatImage::SizeType{{nx, ny, nz}}));
  FloatImage::SpacingType sp;
  sp[0] = 1.0, sp[1] = 1.25, sp[2] = 4.0;
  im->SetSpacing(sp);
  const double a = 12 * M_PI / 180;
  FloatImage::DirectionType d;
  d.SetIdentity();
  d[0][0] = std::cos(a), d[0][1] = -std::sin(a), d[1][0] = std::sin(a), d[1][1] = std::cos(a);
  im->SetDirection(d);
  im->Allocate(true);
  return im;
}

struct Body {
  FloatImage::Pointer clean;
  MaskImage::Pointer body, muscle;
};

// An elliptical body on a dark background: muscle (100, with a smooth +-15% coil gain), two
// dark fat compartments (25), a bright fluid pool (280); no noise.
Body MakeBody(unsigned nx = 200, unsigned ny = 170, unsigned nz = 10) {
  Body b;
  b.clean = Grid(nx, ny, nz);
  b.body = MaskImage::New();
  b.body->CopyInformation(b.clean);
  b.body->SetRegions(b.clean->GetLargestPossibleRegion());
  b.body->Allocate(true);
  b.muscle = MaskImage::New();
  b.muscle->CopyInformation(b.clean);
  b.muscle->SetRegions(b.clean->GetLargestPossibleRegion());
  b.muscle->Allocate(true);
  float* v = b.clean->GetBufferPointer();
  std::uint8_t* m = b.body->GetBufferPointer();
  std::uint8_t* mu = b.muscle->GetBufferPointer();
  const double cx = nx / 2.0, cy = ny / 2.0, ax = nx * 0.36, ay = ny * 0.33;
  for (unsigned k = 0; k < nz; ++k)
    for (unsigned j = 0; j < ny; ++j)
      for (unsigned i = 0; i < nx; ++i) {
        const std::size_t p = (static_cast<std::size_t>(k) * ny + j) * nx + i;
        const double x = (i - cx) / ax, y = (j - cy) / ay;
        if (x * x + y * y > 1) continue;
        m[p] = 1;
        const double gain = 1 + 0.15 * y + 0.05 * std::sin(3 * x + 0.2 * k);
        double s = 100;
        if (std::hypot(x - 0.45, y + 0.2) < 0.22 || std::hypot(x + 0.5, y - 0.25) < 0.2) s = 25;
        else if (std::hypot(x + 0.1, y + 0.45) < 0.15) s = 280;
        else mu[p] = 1;
        v[p] = static_cast<float>(s * gain);
      }
  return b;
}

// Complex Gaussian noise of sigma per channel (white, or band-limited to `fraction` of the band
// along each in-plane axis by a windowed-sinc filter scaled to keep sigma), magnitude taken.
FloatImage::Pointer AddRicianNoise(const FloatImage& clean, double sigma, std::uint32_t seed,
                                   std::array<double, 2> fraction = {1, 1}) {
  const auto size = clean.GetLargestPossibleRegion().GetSize();
  const int nx = size[0], ny = size[1], nz = size[2];
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  auto kernel = [](double f) {
    std::vector<double> h{1.0};
    if (f >= 1) return h;
    const int r = 24;
    h.assign(2 * r + 1, 0);
    double norm = 0;
    for (int x = -r; x <= r; ++x) {
      const double t = M_PI * f * x, hann = 0.5 * (1 + std::cos(M_PI * x / (r + 1)));
      h[x + r] = (x == 0 ? 1 : std::sin(t) / t) * hann;
      norm += h[x + r] * h[x + r];
    }
    for (double& c : h) c /= std::sqrt(norm);  // unit noise gain
    return h;
  };
  const std::vector<double> hx = kernel(fraction[0]), hy = kernel(fraction[1]);
  auto filtered = [&]() {
    std::vector<float> a(static_cast<std::size_t>(nx) * ny * nz), t(a.size());
    for (float& x : a) x = normal(rng);
    const int rx = hx.size() / 2, ry = hy.size() / 2;
    for (int k = 0; k < nz; ++k)
      for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i) {
          double s = 0;
          for (int d = -rx; d <= rx; ++d)
            s += hx[d + rx] * a[(static_cast<std::size_t>(k) * ny + j) * nx + (i + d + nx) % nx];
          t[(static_cast<std::size_t>(k) * ny + j) * nx + i] = static_cast<float>(s);
        }
    for (int k = 0; k < nz; ++k)
      for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i) {
          double s = 0;
          for (int d = -ry; d <= ry; ++d)
            s += hy[d + ry] * t[(static_cast<std::size_t>(k) * ny + (j + d + ny) % ny) * nx + i];
          a[(static_cast<std::size_t>(k) * ny + j) * nx + i] = static_cast<float>(s);
        }
    return a;
  };
  const std::vector<float> re = filtered(), im = filtered();
  auto out = FloatImage::New();
  out->CopyInformation(&clean);
  out->SetRegions(clean.GetLargestPossibleRegion());
  out->Allocate();
  const float* c = clean.GetBufferPointer();
  float* o = out->GetBufferPointer();
  for (std::size_t p = 0; p < re.size(); ++p)
    o[p] = std::hypot(c[p] + static_cast<float>(sigma) * re[p], static_cast<float>(sigma) * im[p]);
  return out;
}

TEST(ImageQuality, WindowResidualFactorIsOneMinusOneOverNForWhiteNoise) {
  EXPECT_NEAR(WindowResidualVarianceFactor(3, {1, 1}), 1 - 1.0 / 49, 1e-12);
  EXPECT_NEAR(WindowResidualVarianceFactor(1, {1, 1}), 1 - 1.0 / 9, 1e-12);
  // Band-limited noise is smoother: the residual keeps less of it.
  EXPECT_LT(WindowResidualVarianceFactor(3, {0.5, 0.6}), WindowResidualVarianceFactor(3, {1, 1}));
  EXPECT_GT(WindowResidualVarianceFactor(3, {0.5, 0.6}), 0.85);
}

// Known sigma, white noise: the estimate within 10% (stated tolerance), SNR = 100 / sigma within
// 10%, background cross-check within 10%.
TEST(ImageQuality, InBodyNoiseRecoversAKnownWhiteSigma) {
  const Body b = MakeBody();
  for (const double sigma : {4.0, 12.0}) {
    const FloatImage::Pointer noisy = AddRicianNoise(*b.clean, sigma, 7);
    const ImageQuality q =
        MeasureImageQuality(*noisy, *b.body, b.muscle.GetPointer(), PhaseEncodingAxis::Row);
    EXPECT_NEAR(q.noiseSigma / sigma, 1.0, 0.10) << sigma;
    EXPECT_NEAR(q.snr / (100 / sigma), 1.0, 0.10) << sigma;
    EXPECT_EQ(q.signalSource, "muscle_mask");
    EXPECT_GT(q.noiseVoxels, 10000u);
    EXPECT_NEAR(q.backgroundSigma / sigma, 1.0, 0.10) << sigma;
    ASSERT_TRUE(q.ghostMeasured) << q.ghostNote;
    EXPECT_NEAR(q.ghostRatio, 1.0, 0.05);
  }
}

// Band-limited noise (zero-filled reconstruction of 50% x 60% of k-space): neighbours share
// noise. With the acquisition fractions the estimate is within 10%; the correction matters.
TEST(ImageQuality, BandLimitedNoiseIsCorrectedWithTheAcquisitionMatrix) {
  const Body b = MakeBody();
  const double sigma = 6;
  const FloatImage::Pointer noisy = AddRicianNoise(*b.clean, sigma, 11, {0.5, 0.6});
  ImageQualityParameters p;
  p.acquiredFraction = {0.5, 0.6};
  const ImageQuality q =
      MeasureImageQuality(*noisy, *b.body, b.muscle.GetPointer(), PhaseEncodingAxis::Column, p);
  EXPECT_NEAR(q.noiseSigma / sigma, 1.0, 0.10);
  EXPECT_LT(q.correlationCorrection, 0.97);
  EXPECT_NEAR(q.backgroundSigma / sigma, 1.0, 0.10);  // the median needs no correction
}

TEST(ImageQuality, ZeroFilledBackgroundAndMissingPhaseDirectionAreSaidNotGuessed) {
  const Body b = MakeBody(160, 140, 6);
  FloatImage::Pointer noisy = AddRicianNoise(*b.clean, 5, 3);
  // Scanner-style masking: everything beyond 3 mm of the body set to 0.
  float* v = noisy->GetBufferPointer();
  const std::uint8_t* m = b.body->GetBufferPointer();
  const auto n = noisy->GetLargestPossibleRegion().GetNumberOfPixels();
  for (std::size_t p = 0; p < n; ++p)
    if (!m[p]) v[p] = 0;
  const ImageQuality q =
      MeasureImageQuality(*noisy, *b.body, b.muscle.GetPointer(), PhaseEncodingAxis::Row);
  EXPECT_NEAR(q.noiseSigma / 5, 1.0, 0.10);  // in-body estimate unaffected
  EXPECT_TRUE(std::isnan(q.backgroundSigma));
  EXPECT_NE(q.backgroundNote.find("zero-filled"), std::string::npos) << q.backgroundNote;
  EXPECT_FALSE(q.ghostMeasured);
  const ImageQuality u = MeasureImageQuality(*AddRicianNoise(*b.clean, 5, 3), *b.body,
                                             b.muscle.GetPointer(), PhaseEncodingAxis::Unknown);
  EXPECT_FALSE(u.ghostMeasured);
  EXPECT_NE(u.ghostNote.find("(0018,1312)"), std::string::npos) << u.ghostNote;
  EXPECT_TRUE(std::isfinite(u.backgroundSigma));
}

// ---- A generated study --------------------------------------------------------------------

struct PhantomSeriesData {
  FloatImage::Pointer image;
  MaskImage::Pointer body, muscle;
  double airThreshold = 0;
  PhaseEncodingAxis axis = PhaseEncodingAxis::Unknown;
  std::string direction;
  std::array<double, 2> fraction{1, 1};
};

class PhantomQuality : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = fs::temp_directory_path() / ("ischia_iq_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    PhantomOptions o;
    o.seed = 20261124;
    o.series = {PhantomSeries::AxialFluidSensitive};
    o.inPlaneScale = 1.5;
    o.supersampling = 1;
    GeneratePhantomStudy(o, dir);
    const std::vector<Study> studies = BuildStudies(ScanDicomFolder(dir).frames);
    data_ = new PhantomSeriesData;
    for (const ImageStack& s : studies.at(0).stacks) {
      if (s.role != SeriesRole::AxialFluidSensitive) continue;
      data_->image = ReadStackVolume(s);
      const FrameInfo& f = s.slices.front();
      data_->direction = f.inPlanePhaseEncodingDirection;
      data_->axis = data_->direction == "ROW"   ? PhaseEncodingAxis::Row
                    : data_->direction == "COL" ? PhaseEncodingAxis::Column
                                                : PhaseEncodingAxis::Unknown;
      const auto& m = f.acquisitionMatrix;
      data_->fraction = {std::min(1.0, std::max(m[0], m[2]) / s.columns),
                         std::min(1.0, std::max(m[1], m[3]) / s.rows)};
    }
    fs::remove_all(dir);
    ASSERT_TRUE(data_->image);
    const BodyMaskResult body = ComputeBodyMask(*data_->image);
    data_->body = body.mask;
    data_->airThreshold = body.airThreshold;
    const StandardisedImage st =
        StandardiseIntensities(*data_->image, *body.mask, TissueContrast::FluidSensitive);
    data_->muscle = MaskImage::New();
    data_->muscle->CopyInformation(data_->image);
    data_->muscle->SetRegions(data_->image->GetLargestPossibleRegion());
    data_->muscle->Allocate();
    const auto n = data_->image->GetLargestPossibleRegion().GetNumberOfPixels();
    for (std::size_t i = 0; i < n; ++i)
      data_->muscle->GetBufferPointer()[i] =
          body.mask->GetBufferPointer()[i] && std::fabs(st.image->GetBufferPointer()[i] - 1) <= 0.25f;
  }
  static void TearDownTestSuite() { delete data_; }

  static ImageQuality Measure(const FloatImage& image) {
    ImageQualityParameters p = RunConfig{}.quality.measure;
    p.objectThreshold = data_->airThreshold;
    p.acquiredFraction = data_->fraction;
    return MeasureImageQuality(image, *data_->body, data_->muscle.GetPointer(), data_->axis, p);
  }
  static bool LowSnr(const ImageQuality& q) { return q.snr < RunConfig{}.quality.minSnr; }
  static bool Motion(const ImageQuality& q) {
    const RunConfig c;
    return q.ghostMeasured && q.ghostRatio >= c.quality.ghostRatio &&
           q.ghostToSignalPercent >= c.quality.ghostSignalPercent;
  }
  // The phantom's noise, exactly: its background is the magnitude of complex Gaussian noise
  // (Rayleigh), E[M^2] = 2 sigma^2, whatever the noise correlation. Voxels beyond 20 mm of the
  // body's in-plane bounding box in each slice.
  static double TrueSigma(const FloatImage& image) {
    const auto size = image.GetLargestPossibleRegion().GetSize();
    const auto sp = image.GetSpacing();
    const int mx = std::ceil(20 / sp[0]), my = std::ceil(20 / sp[1]);
    const float* v = image.GetBufferPointer();
    const std::uint8_t* b = data_->body->GetBufferPointer();
    double sum2 = 0;
    std::size_t count = 0;
    for (unsigned k = 0; k < size[2]; ++k) {
      int x0 = size[0], x1 = -1, y0 = size[1], y1 = -1;
      for (unsigned j = 0; j < size[1]; ++j)
        for (unsigned i = 0; i < size[0]; ++i)
          if (b[(k * size[1] + j) * size[0] + i]) {
            x0 = std::min<int>(x0, i), x1 = std::max<int>(x1, i);
            y0 = std::min<int>(y0, j), y1 = std::max<int>(y1, j);
          }
      for (unsigned j = 0; j < size[1]; ++j)
        for (unsigned i = 0; i < size[0]; ++i) {
          if (int(i) >= x0 - mx && int(i) <= x1 + mx && int(j) >= y0 - my && int(j) <= y1 + my)
            continue;
          const double x = v[(k * size[1] + j) * size[0] + i];
          sum2 += x * x;
          ++count;
        }
    }
    EXPECT_GT(count, 5000u);
    return std::sqrt(sum2 / count / 2);
  }
  static FloatImage::Pointer Copy(const FloatImage& in) {
    auto out = FloatImage::New();
    out->CopyInformation(&in);
    out->SetRegions(in.GetLargestPossibleRegion());
    out->Allocate();
    std::copy_n(in.GetBufferPointer(), in.GetLargestPossibleRegion().GetNumberOfPixels(),
                out->GetBufferPointer());
    return out;
  }
  // image + a * (copy shifted by +N/4 and by -N/4 along index axis `axis`, wrapped as in the
  // Fourier reconstruction): a periodic-motion ghost pair.
  static FloatImage::Pointer AddGhost(const FloatImage& in, int axis, double a) {
    FloatImage::Pointer out = Copy(in);
    const auto size = in.GetLargestPossibleRegion().GetSize();
    const int nx = size[0], ny = size[1], nz = size[2];
    const int n = axis == 0 ? nx : ny, shift = n / 4;
    const float* s = in.GetBufferPointer();
    float* o = out->GetBufferPointer();
    for (int k = 0; k < nz; ++k)
      for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i) {
          auto at = [&](int d) {
            const int ii = axis == 0 ? (i + d + nx) % nx : i, jj = axis == 0 ? j : (j + d + ny) % ny;
            return s[(static_cast<std::size_t>(k) * ny + jj) * nx + ii];
          };
          o[(static_cast<std::size_t>(k) * ny + j) * nx + i] += a * (at(shift) + at(-shift));
        }
    return out;
  }
  static PhantomSeriesData* data_;
};
PhantomSeriesData* PhantomQuality::data_ = nullptr;

TEST_F(PhantomQuality, CleanStudyNoiseAgreesWithThePhantomAndRaisesNoFlag) {
  EXPECT_EQ(data_->direction, "ROW");  // the phantom writes (0018,1312)
  const double truth = TrueSigma(*data_->image);
  const ImageQuality q = Measure(*data_->image);
  std::cout << "phantom clean: sigma " << q.noiseSigma << " (true " << truth << "), background "
            << q.backgroundSigma << ", signal " << q.signal << ", SNR " << q.snr << " (true "
            << q.signal / truth << "), ghost ratio " << q.ghostRatio << ", "
            << q.ghostToSignalPercent << "% (" << q.ghostVoxels << "/" << q.referenceVoxels
            << " voxels), correction " << q.correlationCorrection << "\n";
  EXPECT_NEAR(q.noiseSigma / truth, 1.0, 0.15);  // stated tolerance: 15%
  EXPECT_NEAR(q.backgroundSigma / truth, 1.0, 0.10);
  EXPECT_FALSE(LowSnr(q)) << q.snr;
  ASSERT_TRUE(q.ghostMeasured) << q.ghostNote;
  EXPECT_NEAR(q.ghostRatio, 1.0, 0.15);
  EXPECT_FALSE(Motion(q));
}

TEST_F(PhantomQuality, MoreNoiseLowersTheSnrByTheKnownFactorAndFlagsIt) {
  const double truth = TrueSigma(*data_->image);
  const ImageQuality clean = Measure(*data_->image);
  // Complex noise added so that the total sigma puts the muscle SNR at 3.
  const double total = clean.signal / 3, added = std::sqrt(total * total - truth * truth);
  const FloatImage::Pointer noisy = AddRicianNoise(*data_->image, added, 5);
  const ImageQuality q = Measure(*noisy);
  std::cout << "phantom noisy: sigma " << q.noiseSigma << " (true " << TrueSigma(*noisy)
            << "), SNR " << q.snr << "\n";
  EXPECT_NEAR(q.noiseSigma / TrueSigma(*noisy), 1.0, 0.15);
  EXPECT_NEAR(q.snr / 3, 1.0, 0.15);
  EXPECT_TRUE(LowSnr(q)) << q.snr;
}

TEST_F(PhantomQuality, GhostAlongThePhaseAxisFlagsMotionAlongFrequencyDoesNot) {
  const int phase = data_->axis == PhaseEncodingAxis::Column ? 1 : 0;
  const ImageQuality ghosted = Measure(*AddGhost(*data_->image, phase, 0.08));
  const ImageQuality across = Measure(*AddGhost(*data_->image, 1 - phase, 0.08));
  std::cout << "phantom ghost along phase: ratio " << ghosted.ghostRatio << ", "
            << ghosted.ghostToSignalPercent << "%; along frequency: ratio " << across.ghostRatio
            << ", " << across.ghostToSignalPercent << "%\n";
  ASSERT_TRUE(ghosted.ghostMeasured) << ghosted.ghostNote;
  EXPECT_TRUE(Motion(ghosted));
  EXPECT_FALSE(Motion(across));
  EXPECT_FALSE(LowSnr(ghosted));
}

}  // namespace
