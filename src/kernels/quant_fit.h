// Weighted least-squares choice of block scales (and mins) for the 4- to 6-bit quantizers: the ideas of
// llama.cpp's make_qx_quants / make_qkx2_quants / make_qp_quants (a grid of candidate scales, each
// refitted by least squares), written for bitflash. Inputs must be finite; weights >= 0.
#pragma once
#include <cstdint>

namespace bf::qfit {

// x ≈ s·l with integer l in [-nmax, nmax-1] (the signed codes of Q4_0 and Q6_K), minimising Σ w·(x − s·l)².
// Writes l, returns s (0, with l = 0, when every x is 0). s may be negative: the extreme x then maps to
// −nmax, which the asymmetric code range can hold.
float fit_symmetric(const float* x, const float* w, int n, int nmax, int* l);

// x ≈ s·l − m with l in [0, nmax], s >= 0 and m >= 0 (Q4_K/Q5_K sub-blocks), minimising Σ w·(x − s·l + m)².
// Candidate steps (nmax + rmin + rdelta·i)/(max − min), i = 0..nstep, each refitted. Writes l and m, returns s.
float fit_affine(const float* x, const float* w, int n, int nmax, float rmin, float rdelta, int nstep, int* l,
                 float* m);

// Non-negative v ≈ D·k with k in [0, nmax] (the 6-bit scales and mins of a K-quant super-block), minimising
// Σ w·(v − D·k)². Writes k, returns D (0 when every v is 0).
float fit_positive(const float* v, const float* w, int n, int nmax, int* k);

// Per-element weights of one block of x (length n) for the searches above. With importance (per-column,
// from an imatrix): importance[i]·sqrt(sigma2 + x[i]²), llama.cpp's rule, where sigma2 is the row's mean x².
// Without: the default rule of the format (kSquare: x², make_qx_quants' rmse_type 1; kRmsPlusAbs:
// rms(block) + |x|, llama.cpp's Q4_K/Q5_K reference). A block whose weights sum to 0 falls back to the
// default rule, and then to uniform weights, so the searches always have something to fit.
enum class DefaultWeights { kSquare, kRmsPlusAbs };
void block_weights(const float* x, const float* importance, int n, float sigma2, DefaultWeights rule, float* w);

}  // namespace bf::qfit
