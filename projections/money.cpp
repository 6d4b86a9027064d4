#include "projections/money.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace orgledger {
namespace {
// micro-units x picodollars = 1e-18 USD; nano-USD = 1e-9 USD.
constexpr Int128 kAttoPerNano = 1'000'000'000;
constexpr Int128 kInt64Max = std::numeric_limits<int64_t>::max();
}  // namespace

Status amount_overflow(std::string what) {
  return Status(
      Code::kInvalidArgument, Reason::kAmountOverflow,
      what + " would exceed the largest representable amount (9,223,372,036.854775807 USD)");
}

Int128 divide_half_even(Int128 numerator, Int128 denominator) {
  Int128 quotient = numerator / denominator;
  Int128 remainder = numerator % denominator;
  if (remainder < 0) {  // floor division
    remainder += denominator;
    quotient -= 1;
  }
  const Int128 twice = remainder * 2;
  if (twice > denominator || (twice == denominator && (quotient & 1) != 0)) quotient += 1;
  return quotient;
}

Int128 tiered_cost_nano(const std::vector<Tier>& tiers, int64_t quantity) {
  return divide_half_even(tiered_cost_exact(tiers, quantity), kAttoPerNano);
}

Result<int64_t> tiered_cost(const std::vector<Tier>& tiers, int64_t quantity) {
  const Int128 nano = tiered_cost_nano(tiers, quantity);
  if (nano > kInt64Max) return amount_overflow("a tiered cost");
  return static_cast<int64_t>(nano);
}

Result<std::vector<int64_t>> round_parts(const std::vector<Int128>& atto_parts) {
  Int128 sum = 0;
  for (Int128 part : atto_parts)
    sum += part;  // each < 2^126 and few parts: no overflow in practice
  const Int128 total = divide_half_even(sum, kAttoPerNano);
  if (total > kInt64Max) return amount_overflow("a sum of costs");
  std::vector<int64_t> parts(atto_parts.size());
  std::vector<Int128> remainders(atto_parts.size());
  Int128 assigned = 0;
  for (size_t i = 0; i < atto_parts.size(); ++i) {
    parts[i] = static_cast<int64_t>(atto_parts[i] / kAttoPerNano);
    remainders[i] = atto_parts[i] % kAttoPerNano;
    assigned += parts[i];
  }
  std::vector<size_t> order(atto_parts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainders[a] > remainders[b]; });
  for (Int128 left = total - assigned, next = 0; left > 0; --left, ++next) {
    ++parts[order[static_cast<size_t>(next)]];
  }
  return parts;
}

Int128 tiered_cost_exact(const std::vector<Tier>& tiers, int64_t quantity) {
  Int128 atto = 0;  // at most quantity * max price < 2^126, so no overflow
  int64_t floor = 0;
  for (const Tier& tier : tiers) {
    if (quantity <= floor) break;
    const int64_t ceiling = tier.up_to ? std::min(*tier.up_to, quantity) : quantity;
    if (ceiling > floor) {
      atto += static_cast<Int128>(ceiling - floor) * tier.unit_price;
      floor = ceiling;
    }
  }
  return atto;
}

std::vector<int64_t> split_largest_remainder(int64_t total, const std::vector<int64_t>& weights) {
  std::vector<int64_t> shares(weights.size(), 0);
  Int128 sum = 0;
  for (int64_t weight : weights) sum += weight;
  if (sum == 0) return shares;
  std::vector<Int128> remainders(weights.size());
  Int128 assigned = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const Int128 product = static_cast<Int128>(total) * weights[i];
    shares[i] = static_cast<int64_t>(product / sum);
    remainders[i] = product % sum;
    assigned += shares[i];
  }
  std::vector<size_t> order(weights.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainders[a] > remainders[b]; });
  for (Int128 left = total - assigned; left > 0; --left) {
    ++shares[order[static_cast<size_t>(total - assigned - left)]];
  }
  return shares;
}

int64_t nano_to_cents(int64_t nano) {
  return static_cast<int64_t>(divide_half_even(nano, 10'000'000));
}

}  // namespace orgledger
