// Xoshiro256++: the small, fast pseudo-random generator behind fault injection's decisions
// and deterministic mode's scheduling choices (deterministic.hpp, one stream for the run).
//
// Design
// ------
// A decision must cost a few nanoseconds and need no lock, so each worker owns one stream
// (faults.hpp); threads outside the runtime share one stream under a mutex. A stream is
// seeded from (seed, stream id) through SplitMix64, as the xoshiro authors recommend: nearby
// seeds and ids give unrelated streams, and no state is all zero.
//
// Rejected: std::mt19937_64 (2.5 KB of state per stream and slower), std::uniform_real_
// distribution (its results differ between standard libraries, so a seed would not replay
// the same faults everywhere).
#pragma once

#include <cstdint>

namespace ergon::detail {

// SplitMix64 (Steele, Lea, Flood): one step of a seed sequence.
inline std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class Xoshiro256 {
 public:
  Xoshiro256() noexcept : Xoshiro256(0, 0) {}
  Xoshiro256(std::uint64_t seed, std::uint64_t stream) noexcept {
    std::uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull);
    for (std::uint64_t& w : s_) w = splitmix64(x);
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // True with probability `threshold` / 2^64 (see probability_threshold).
  bool chance(std::uint64_t threshold) noexcept { return next() < threshold; }

  // Uniform in [1, n] for n >= 1 (the bias of the modulo is below n / 2^64).
  std::uint64_t between_1_and(std::uint64_t n) noexcept { return 1 + next() % n; }
  // Uniform in [0, n) for n >= 1; true with probability 1/n.
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
  bool one_in(std::uint64_t n) noexcept { return below(n) == 0; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// A probability in [0, 1] as a threshold for Xoshiro256::chance: comparing integers keeps a
// decision free of floating point, and 1.0 maps to "always" (UINT64_MAX misses one value in
// 2^64, which no test can see).
inline std::uint64_t probability_threshold(double p) noexcept {
  if (!(p > 0)) return 0;
  if (p >= 1) return UINT64_MAX;
  return static_cast<std::uint64_t>(p * 18446744073709551616.0);  // p * 2^64
}

}  // namespace ergon::detail
