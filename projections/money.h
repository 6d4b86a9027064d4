// Exact money arithmetic (DESIGN.md "Money and time"): quantities in micro-units, unit prices in
// picodollars per unit, amounts in nano-USD. Products are taken in __int128 and rounded half to
// even once, where DOMAIN.md says; a result beyond int64 is an error, never a wrap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "projections/status.h"

namespace orgledger {

// __extension__: DESIGN.md asks for __int128 products; -Wpedantic would otherwise refuse it.
__extension__ typedef __int128 Int128;

struct Tier {
  std::optional<int64_t> up_to;  // micro-units; absent on the last, unbounded tier
  int64_t unit_price = 0;        // picodollars per unit
};

// `numerator / denominator` rounded half to even. denominator > 0.
Int128 divide_half_even(Int128 numerator, Int128 denominator);

// The cost in nano-USD of `quantity` micro-units under `tiers` (tiers applied from zero, each
// segment priced at its tier's unit price, the exact sum rounded half to even once).
// InvalidArgument/AmountOverflow when the cost does not fit in int64.
Result<int64_t> tiered_cost(const std::vector<Tier>& tiers, int64_t quantity);

// The same cost, rounded the same way, without the int64 check: exact for any quantity.
Int128 tiered_cost_nano(const std::vector<Tier>& tiers, int64_t quantity);

// The exact cost of `quantity` under `tiers` in attodollars (1e-18 USD): micro-units times
// picodollars, summed over the tier segments, not rounded.
Int128 tiered_cost_exact(const std::vector<Tier>& tiers, int64_t quantity);

// Rounds exact non-negative attodollar parts to nano-USD so that the parts add up to their
// exact sum rounded half to even once: each part is its floor, and the nano-dollars left go one
// each to the largest fractional remainders, ties to the lower index. Every part is within one
// nano-dollar of its exact value. AmountOverflow when the sum does not fit in int64.
Result<std::vector<int64_t>> round_parts(const std::vector<Int128>& atto_parts);

// Splits `total` in proportion to `weights` by largest remainder: every share is the floor of
// total * weight / sum, and the units left go one each to the largest remainders, ties to the
// lower index. The shares add up to `total` exactly. Requires total >= 0, weights >= 0; when all
// weights are zero every share is zero (and total must be zero).
std::vector<int64_t> split_largest_remainder(int64_t total, const std::vector<int64_t>& weights);

// Nano-USD to cents, rounded half to even.
int64_t nano_to_cents(int64_t nano);

// The overflow error of money arithmetic.
Status amount_overflow(std::string what);

}  // namespace orgledger
