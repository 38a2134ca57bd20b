//! The hot loops of distil's embedded LLM: products of quantized weight matrices with f32
//! activations, spread over the current rayon pool.
//!
//! They live in a crate of their own so that test and debug builds compile them optimised
//! (the workspace gives this package `opt-level = 3` in the dev profile, as it does candle):
//! unoptimised, each SIMD intrinsic becomes a function call and one generated token takes
//! seconds.
//!
//! The rows of a matrix are split into small tasks that rayon's threads steal from each other,
//! so the share of a thread the scheduler took off its core (other builds, other jobs) is done
//! by the others, and an idle thread sleeps rather than spins.
//!
//! Two formats, both in blocks of 32 values along a row:
//! - Q4_1 as GGUF files hold it (the default model's): the 4-bit levels are unsigned, so one
//!   AVX2 `maddubs` multiplies them with the 8-bit inputs directly;
//! - Q8_0, which any other matrix becomes: signed 8-bit levels and one scale per block.
//!
//! Each block of weights, loaded once, serves up to eight input rows. The instructions are
//! chosen at run time: AVX-512 with VNNI (two blocks per instruction) where the CPU has it, else
//! AVX2; elsewhere a scalar loop computes the same sums.
//!
//! The choice of candidate tokens for sampling ([`sampling_candidates`], [`argmax`]), a pass
//! over the whole vocabulary per token, is here for the same reason.
//!
//! ```
//! use distil_kernels::QMatrix;
//!
//! // A 2x32 matrix: a row of ones and a row of twos.
//! let weights: Vec<f32> = [1.0; 32].into_iter().chain([2.0; 32]).collect();
//! let matrix = QMatrix::q8_0(&weights, 2, 32).unwrap();
//! let out = matrix.matmul(&[0.5; 32], 1);
//! assert!((out[0] - 16.0).abs() < 0.2 && (out[1] - 32.0).abs() < 0.4);
//! ```

#![warn(missing_docs)]

use rayon::prelude::*;

/// Values per block, in both formats.
pub const BLOCK: usize = 32;
/// Bytes of a Q4_1 block in a GGUF file: scale and minimum (f16), 16 bytes of levels.
pub const Q4_1_BLOCK_BYTES: usize = 20;

/// A `(rows, cols)` weight matrix, row after row, in blocks of 32 along a row.
pub struct QMatrix {
    rows: usize,
    cols: usize,
    weights: Weights,
}

enum Weights {
    /// Value `j` of a block is `scale * level + min`; byte `j` of its levels holds level `j`
    /// in its low nibble and level `j + 16` in its high nibble (GGUF's layout).
    Q4_1 {
        scales: Vec<f32>,
        mins: Vec<f32>,
        levels: Vec<[u8; 16]>,
    },
    /// Value `j` of a block is `scale * level`.
    Q8_0 {
        scales: Vec<f32>,
        levels: Vec<[i8; BLOCK]>,
    },
}

/// Input rows quantized to 8 bits: per block a scale, the scaled sum of its levels (for the
/// Q4_1 weights' minimum) and the levels.
struct Inputs {
    per_row: usize,
    scales: Vec<f32>,
    sums: Vec<f32>,
    levels: Vec<[i8; BLOCK]>,
}

/// One block of values as 8-bit levels and their scale (the largest magnitude becomes 127).
#[inline(always)]
fn quantize_block(values: &[f32], levels: &mut [i8; BLOCK]) -> f32 {
    // The largest magnitude in eight lanes, so that it compiles to vector instructions (the
    // same maximum as a plain fold: the order does not matter to it).
    let mut lanes = [0f32; 8];
    for chunk in values.chunks_exact(8) {
        for l in 0..8 {
            lanes[l] = lanes[l].max(chunk[l].abs());
        }
    }
    let max = lanes.iter().fold(0f32, |m, v| m.max(*v));
    let scale = max / 127.0;
    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    for (level, v) in levels.iter_mut().zip(values) {
        *level = (v * inverse).round() as i8;
    }
    scale
}

impl Inputs {
    fn quantize(values: &[f32], cols: usize) -> Inputs {
        #[cfg(target_arch = "x86_64")]
        if Simd::detect() != Simd::Scalar {
            // SAFETY: `Simd::detect` found AVX2 and FMA (AVX-512 CPUs have them too).
            return unsafe { Inputs::quantize_avx2(values, cols) };
        }
        Inputs::quantize_loops(values, cols)
    }

    /// [`Self::quantize_loops`] compiled for AVX2: the rounding becomes vector instructions
    /// instead of a call to `roundf` per value (same results).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn quantize_avx2(values: &[f32], cols: usize) -> Inputs {
        Inputs::quantize_loops(values, cols)
    }

    #[inline(always)]
    fn quantize_loops(values: &[f32], cols: usize) -> Inputs {
        let blocks = values.len() / BLOCK;
        let mut inputs = Inputs {
            per_row: cols / BLOCK,
            scales: vec![0.0; blocks],
            sums: vec![0.0; blocks],
            levels: vec![[0; BLOCK]; blocks],
        };
        for (b, chunk) in values.chunks_exact(BLOCK).enumerate() {
            let scale = quantize_block(chunk, &mut inputs.levels[b]);
            let sum: i32 = inputs.levels[b].iter().map(|l| *l as i32).sum();
            inputs.scales[b] = scale;
            inputs.sums[b] = scale * sum as f32;
        }
        inputs
    }

    fn row(&self, i: usize) -> InputRow<'_> {
        let blocks = i * self.per_row..(i + 1) * self.per_row;
        InputRow {
            scales: &self.scales[blocks.clone()],
            sums: &self.sums[blocks.clone()],
            levels: &self.levels[blocks],
        }
    }
}

#[derive(Clone, Copy)]
struct InputRow<'a> {
    scales: &'a [f32],
    sums: &'a [f32],
    levels: &'a [[i8; BLOCK]],
}

/// The instructions the kernels use, the best the CPU has (detected at run time).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Simd {
    Scalar,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 (F, BW) with VNNI: two blocks per instruction, and one instruction for the
    /// 8-bit products and their sums.
    Avx512Vnni,
}

impl Simd {
    fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni")
            {
                return Simd::Avx512Vnni;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Simd::Avx2;
            }
        }
        Simd::Scalar
    }
}

/// The dot products of one weight row with `N` input rows.
trait RowKernel: Sync {
    fn dots<const N: usize>(&self, row: usize, simd: Simd, x: [InputRow<'_>; N]) -> [f32; N];
}

/// A Q4_1 matrix's blocks, `per_row` to a row.
struct Q4_1<'a> {
    per_row: usize,
    scales: &'a [f32],
    mins: &'a [f32],
    levels: &'a [[u8; 16]],
}

/// A Q8_0 matrix's blocks, `per_row` to a row.
struct Q8_0<'a> {
    per_row: usize,
    scales: &'a [f32],
    levels: &'a [[i8; BLOCK]],
}

impl Q4_1<'_> {
    /// Block `block` of the matrix times block `b` of the input row, one value at a time.
    fn block_dot(&self, block: usize, x: &InputRow<'_>, b: usize) -> f32 {
        let mut sum = 0i32;
        for (j, byte) in self.levels[block].iter().enumerate() {
            sum += (byte & 0x0F) as i32 * x.levels[b][j] as i32;
            sum += (byte >> 4) as i32 * x.levels[b][j + 16] as i32;
        }
        self.scales[block] * x.scales[b] * sum as f32 + self.mins[block] * x.sums[b]
    }

    fn dots_scalar<const N: usize>(&self, row: usize, x: [InputRow<'_>; N]) -> [f32; N] {
        let first = row * self.per_row;
        let mut out = [0f32; N];
        for (n, x) in x.iter().enumerate() {
            let mut total = 0f32;
            for b in 0..self.per_row {
                total += self.block_dot(first + b, x, b);
            }
            out[n] = total;
        }
        out
    }

    /// [`Self::dots_scalar`] with AVX2: the caller checks that the CPU has AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn dots_avx2<const N: usize>(&self, row: usize, x: [InputRow<'_>; N]) -> [f32; N] {
        use std::arch::x86_64::*;
        let first = row * self.per_row;
        let low = _mm256_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); N];
        let mut mins = [0f32; N];
        for b in 0..self.per_row {
            // SAFETY: the loads read 16 and 32 bytes from arrays of that size.
            let packed = unsafe { _mm_loadu_si128(self.levels[first + b].as_ptr().cast()) };
            let levels = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low);
            let (scale, min) = (self.scales[first + b], self.mins[first + b]);
            for n in 0..N {
                let input = unsafe { _mm256_loadu_si256(x[n].levels[b].as_ptr().cast()) };
                // Unsigned 4-bit levels times signed 8-bit ones: pairs summed in 16 bits (at
                // most 2 * 15 * 127, no saturation), then in 32.
                let products = _mm256_madd_epi16(_mm256_maddubs_epi16(levels, input), ones);
                let scale = _mm256_set1_ps(scale * x[n].scales[b]);
                acc[n] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(products), scale, acc[n]);
                mins[n] += min * x[n].sums[b];
            }
        }
        let mut out = [0f32; N];
        for n in 0..N {
            out[n] = horizontal_sum(acc[n]) + mins[n];
        }
        out
    }
}

impl Q4_1<'_> {
    /// [`Self::dots_scalar`] with AVX-512 and VNNI, two blocks at a time: the caller checks
    /// that the CPU has AVX-512 F, BW and VNNI.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dots_avx512<const N: usize>(&self, row: usize, x: [InputRow<'_>; N]) -> [f32; N] {
        use std::arch::x86_64::*;
        let first = row * self.per_row;
        let low = _mm512_set1_epi8(0x0F);
        let mut acc = [_mm512_setzero_ps(); N];
        let mut mins = [0f32; N];
        let pairs = self.per_row / 2;
        for pair in 0..pairs {
            let b = 2 * pair;
            let unpack = |block: &[u8; 16]| {
                // SAFETY: the load reads 16 bytes from an array of that size.
                let packed = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
                _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed)
            };
            let levels = _mm512_and_si512(
                _mm512_inserti64x4(
                    _mm512_castsi256_si512(unpack(&self.levels[first + b])),
                    unpack(&self.levels[first + b + 1]),
                    1,
                ),
                low,
            );
            let (scale0, scale1) = (self.scales[first + b], self.scales[first + b + 1]);
            let (min0, min1) = (self.mins[first + b], self.mins[first + b + 1]);
            for n in 0..N {
                // SAFETY: blocks `b` and `b + 1` of the row are 64 bytes side by side.
                let input = unsafe { _mm512_loadu_si512(x[n].levels[b..b + 2].as_ptr().cast()) };
                // Unsigned levels times signed ones, four adjacent products summed per lane:
                // lanes 0 to 7 hold block `b`, lanes 8 to 15 block `b + 1`.
                let products = _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels, input);
                let scales = _mm512_mask_blend_ps(
                    0xFF00,
                    _mm512_set1_ps(scale0 * x[n].scales[b]),
                    _mm512_set1_ps(scale1 * x[n].scales[b + 1]),
                );
                acc[n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(products), scales, acc[n]);
                mins[n] += min0 * x[n].sums[b] + min1 * x[n].sums[b + 1];
            }
        }
        let mut out = [0f32; N];
        for n in 0..N {
            out[n] = _mm512_reduce_add_ps(acc[n]) + mins[n];
        }
        if self.per_row % 2 == 1 {
            // A last block without a partner, as the scalar loop does it.
            let b = self.per_row - 1;
            for n in 0..N {
                out[n] += self.block_dot(first + b, &x[n], b);
            }
        }
        out
    }
}

impl RowKernel for Q4_1<'_> {
    fn dots<const N: usize>(&self, row: usize, simd: Simd, x: [InputRow<'_>; N]) -> [f32; N] {
        #[cfg(target_arch = "x86_64")]
        match simd {
            // SAFETY: `Simd::detect` found these instructions on the CPU.
            Simd::Avx512Vnni => return unsafe { self.dots_avx512(row, x) },
            Simd::Avx2 => return unsafe { self.dots_avx2(row, x) },
            Simd::Scalar => {}
        }
        let _ = simd;
        self.dots_scalar(row, x)
    }
}

impl Q8_0<'_> {
    /// Block `block` of the matrix times block `b` of the input row, one value at a time.
    fn block_dot(&self, block: usize, x: &InputRow<'_>, b: usize) -> f32 {
        let sum: i32 = self.levels[block]
            .iter()
            .zip(&x.levels[b])
            .map(|(w, v)| *w as i32 * *v as i32)
            .sum();
        self.scales[block] * x.scales[b] * sum as f32
    }

    fn dots_scalar<const N: usize>(&self, row: usize, x: [InputRow<'_>; N]) -> [f32; N] {
        let first = row * self.per_row;
        let mut out = [0f32; N];
        for (n, x) in x.iter().enumerate() {
            let mut total = 0f32;
            for b in 0..self.per_row {
                total += self.block_dot(first + b, x, b);
            }
            out[n] = total;
        }
        out
    }

    /// [`Self::dots_scalar`] with AVX2: the caller checks that the CPU has AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn dots_avx2<const N: usize>(&self, row: usize, x: [InputRow<'_>; N]) -> [f32; N] {
        use std::arch::x86_64::*;
        let first = row * self.per_row;
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); N];
        for b in 0..self.per_row {
            // SAFETY: the loads read 32 bytes from arrays of that size.
            let weights = unsafe { _mm256_loadu_si256(self.levels[first + b].as_ptr().cast()) };
            // `maddubs` takes one unsigned operand: the weights' magnitudes, their signs moved
            // onto the inputs.
            let magnitudes = _mm256_sign_epi8(weights, weights);
            let scale = self.scales[first + b];
            for n in 0..N {
                let input = unsafe { _mm256_loadu_si256(x[n].levels[b].as_ptr().cast()) };
                let signed = _mm256_sign_epi8(input, weights);
                // Pairs of at most 127 * 127 summed in 16 bits: no saturation.
                let products = _mm256_madd_epi16(_mm256_maddubs_epi16(magnitudes, signed), ones);
                let scale = _mm256_set1_ps(scale * x[n].scales[b]);
                acc[n] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(products), scale, acc[n]);
            }
        }
        let mut out = [0f32; N];
        for n in 0..N {
            out[n] = horizontal_sum(acc[n]);
        }
        out
    }
}

impl Q8_0<'_> {
    /// [`Self::dots_scalar`] with AVX-512 and VNNI, two blocks at a time: the caller checks
    /// that the CPU has AVX-512 F, BW and VNNI.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dots_avx512<const N: usize>(&self, row: usize, x: [InputRow<'_>; N]) -> [f32; N] {
        use std::arch::x86_64::*;
        let first = row * self.per_row;
        let mut acc = [_mm512_setzero_ps(); N];
        let pairs = self.per_row / 2;
        for pair in 0..pairs {
            let b = 2 * pair;
            // SAFETY: blocks `b` and `b + 1` of the row are 64 bytes side by side.
            let weights = unsafe {
                _mm512_loadu_si512(self.levels[first + b..first + b + 2].as_ptr().cast())
            };
            // VNNI takes one unsigned operand: the weights' magnitudes, their signs moved onto
            // the inputs (which are within ±127, so negating them cannot overflow).
            let magnitudes = _mm512_abs_epi8(weights);
            let negative = _mm512_movepi8_mask(weights);
            let (scale0, scale1) = (self.scales[first + b], self.scales[first + b + 1]);
            for n in 0..N {
                // SAFETY: as for the weights.
                let input = unsafe { _mm512_loadu_si512(x[n].levels[b..b + 2].as_ptr().cast()) };
                let signed = _mm512_mask_sub_epi8(input, negative, _mm512_setzero_si512(), input);
                let products = _mm512_dpbusd_epi32(_mm512_setzero_si512(), magnitudes, signed);
                let scales = _mm512_mask_blend_ps(
                    0xFF00,
                    _mm512_set1_ps(scale0 * x[n].scales[b]),
                    _mm512_set1_ps(scale1 * x[n].scales[b + 1]),
                );
                acc[n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(products), scales, acc[n]);
            }
        }
        let mut out = [0f32; N];
        for n in 0..N {
            out[n] = _mm512_reduce_add_ps(acc[n]);
        }
        if self.per_row % 2 == 1 {
            // A last block without a partner, as the scalar loop does it.
            let b = self.per_row - 1;
            for n in 0..N {
                out[n] += self.block_dot(first + b, &x[n], b);
            }
        }
        out
    }
}

impl RowKernel for Q8_0<'_> {
    fn dots<const N: usize>(&self, row: usize, simd: Simd, x: [InputRow<'_>; N]) -> [f32; N] {
        #[cfg(target_arch = "x86_64")]
        match simd {
            // SAFETY: `Simd::detect` found these instructions on the CPU.
            Simd::Avx512Vnni => return unsafe { self.dots_avx512(row, x) },
            Simd::Avx2 => return unsafe { self.dots_avx2(row, x) },
            Simd::Scalar => {}
        }
        let _ = simd;
        self.dots_scalar(row, x)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn horizontal_sum(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    let half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
    _mm_cvtss_f32(half)
}

fn f16(bytes: &[u8]) -> f32 {
    half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f32()
}

impl QMatrix {
    /// A Q4_1 matrix from its blocks as a GGUF file stores them (20 bytes each, row after
    /// row); several matrices with the same columns stack when their blocks follow each other.
    pub fn q4_1(blocks: &[u8], rows: usize, cols: usize) -> Result<QMatrix, String> {
        if !cols.is_multiple_of(BLOCK) {
            return Err(format!(
                "a matrix of {cols} columns cannot be held in blocks of {BLOCK}"
            ));
        }
        let count = rows * cols / BLOCK;
        if blocks.len() != count * Q4_1_BLOCK_BYTES {
            return Err(format!(
                "a Q4_1 matrix of {rows}x{cols} takes {} bytes, not {}",
                count * Q4_1_BLOCK_BYTES,
                blocks.len()
            ));
        }
        let mut scales = Vec::with_capacity(count);
        let mut mins = Vec::with_capacity(count);
        let mut levels = Vec::with_capacity(count);
        for block in blocks.chunks_exact(Q4_1_BLOCK_BYTES) {
            scales.push(f16(&block[0..2]));
            mins.push(f16(&block[2..4]));
            levels.push(block[4..].try_into().expect("16 bytes"));
        }
        Ok(QMatrix {
            rows,
            cols,
            weights: Weights::Q4_1 {
                scales,
                mins,
                levels,
            },
        })
    }

    /// `(rows, cols)` values given row after row, quantized to Q8_0; `cols` must be a multiple
    /// of 32.
    pub fn q8_0(values: &[f32], rows: usize, cols: usize) -> Result<QMatrix, String> {
        if !cols.is_multiple_of(BLOCK) || values.len() != rows * cols {
            return Err(format!(
                "a {rows}x{cols} matrix with {} values cannot be held in blocks of {BLOCK}",
                values.len()
            ));
        }
        let count = rows * cols / BLOCK;
        let mut scales = vec![0f32; count];
        let mut levels = vec![[0i8; BLOCK]; count];
        scales
            .par_iter_mut()
            .zip(levels.par_iter_mut())
            .zip(values.par_chunks_exact(BLOCK))
            .for_each(|((scale, levels), values)| *scale = quantize_block(values, levels));
        Ok(QMatrix {
            rows,
            cols,
            weights: Weights::Q8_0 { scales, levels },
        })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `x · Wᵀ` for `m` input rows `x` of `cols` values each, given row after row: `m` rows of
    /// `rows` values. The inputs are quantized to 8 bits first.
    ///
    /// # Panics
    /// When `x` does not hold `m * cols` values.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        assert_eq!(
            x.len(),
            m * self.cols,
            "{m} input rows of {} features",
            self.cols
        );
        let inputs = Inputs::quantize(x, self.cols);
        let per_row = self.cols / BLOCK;
        let by_row = match &self.weights {
            Weights::Q4_1 {
                scales,
                mins,
                levels,
            } => self.product(
                &Q4_1 {
                    per_row,
                    scales,
                    mins,
                    levels,
                },
                &inputs,
                m,
            ),
            Weights::Q8_0 { scales, levels } => self.product(
                &Q8_0 {
                    per_row,
                    scales,
                    levels,
                },
                &inputs,
                m,
            ),
        };
        if m == 1 {
            return by_row;
        }
        let mut out = vec![0f32; m * self.rows];
        for (r, column) in by_row.chunks(m).enumerate() {
            for (i, v) in column.iter().enumerate() {
                out[i * self.rows + r] = *v;
            }
        }
        out
    }

    /// Weight rows per task: enough tasks for stealing to even out the threads, each big
    /// enough to outweigh its scheduling.
    fn rows_per_task(&self) -> usize {
        (self.rows / (rayon::current_num_threads() * 16)).clamp(4, 256)
    }

    /// The products, weight row by weight row: `(rows, m)`.
    fn product<K: RowKernel>(&self, kernel: &K, inputs: &Inputs, m: usize) -> Vec<f32> {
        let simd = Simd::detect();
        let rows_per_task = self.rows_per_task();
        let mut by_row = vec![0f32; self.rows * m];
        by_row
            .par_chunks_mut(rows_per_task * m)
            .enumerate()
            .for_each(|(task, out)| {
                let first = task * rows_per_task;
                let mut i = 0;
                while i < m {
                    // Eight input rows per pass where there are eight, then four, then one.
                    let tile = match m - i {
                        8.. => 8,
                        4.. => 4,
                        _ => 1,
                    };
                    for r in 0..out.len() / m {
                        let out = &mut out[r * m + i..r * m + i + tile];
                        let row = first + r;
                        match tile {
                            8 => out.copy_from_slice(&kernel.dots(
                                row,
                                simd,
                                std::array::from_fn::<_, 8, _>(|n| inputs.row(i + n)),
                            )),
                            4 => out.copy_from_slice(&kernel.dots(
                                row,
                                simd,
                                std::array::from_fn::<_, 4, _>(|n| inputs.row(i + n)),
                            )),
                            _ => out.copy_from_slice(&kernel.dots(row, simd, [inputs.row(i)])),
                        }
                    }
                    i += tile;
                }
            });
        by_row
    }
}

/// Rotates each head's pairs of values `(2i, 2i + 1)` by the angle whose cosine and sine are
/// `cos[i]` and `sin[i]` (rotary position embeddings, GGUF's interleaved pairs): `values` holds
/// whole heads of `cos.len() * 2` values.
pub fn rope(values: &mut [f32], cos: &[f32], sin: &[f32]) {
    for head in values.chunks_exact_mut(2 * cos.len()) {
        for ((pair, cos), sin) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
            let (x, y) = (pair[0], pair[1]);
            pair[0] = x * cos - y * sin;
            pair[1] = x * sin + y * cos;
        }
    }
}

/// The shape of multi-head attention with grouped keys and values.
#[derive(Clone, Copy, Debug)]
pub struct Heads {
    /// Query heads.
    pub heads: usize,
    /// Key and value heads, each shared by `heads / kv_heads` query heads.
    pub kv_heads: usize,
    /// Values per head.
    pub dim: usize,
}

/// One query token's scaled dot-product attention over the first `visible` tokens of its
/// sequence: `query` and `out` hold `heads * dim` values, `keys` and `values` at least
/// `visible` tokens of `kv_heads * dim` values each, token after token (a cache that grows
/// by appending). Softmax in f32 as candle's, summed in another order.
///
/// # Panics
/// When the slices are shorter than the shape says.
pub fn attend(
    query: &[f32],
    keys: &[f32],
    values: &[f32],
    visible: usize,
    shape: Heads,
    scale: f32,
    out: &mut [f32],
) {
    assert!(query.len() >= shape.heads * shape.dim && out.len() >= shape.heads * shape.dim);
    let stride = shape.kv_heads * shape.dim;
    assert!(keys.len() >= visible * stride && values.len() >= visible * stride);
    #[cfg(target_arch = "x86_64")]
    if Simd::detect() != Simd::Scalar {
        // SAFETY: `Simd::detect` found AVX2 and FMA (AVX-512 CPUs have them too).
        return unsafe { attend_avx2(query, keys, values, visible, shape, scale, out) };
    }
    attend_loops(query, keys, values, visible, shape, scale, out)
}

/// [`attend_loops`] compiled for AVX2: its lane-wise loops become 8-wide instructions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn attend_avx2(
    query: &[f32],
    keys: &[f32],
    values: &[f32],
    visible: usize,
    shape: Heads,
    scale: f32,
    out: &mut [f32],
) {
    attend_loops(query, keys, values, visible, shape, scale, out)
}

#[inline(always)]
fn attend_loops(
    query: &[f32],
    keys: &[f32],
    values: &[f32],
    visible: usize,
    shape: Heads,
    scale: f32,
    out: &mut [f32],
) {
    let Heads {
        heads,
        kv_heads,
        dim,
    } = shape;
    let group = heads / kv_heads;
    let stride = kv_heads * dim;
    let mut weights = vec![0f32; visible];
    for h in 0..heads {
        let kv = (h / group) * dim;
        let q = &query[h * dim..(h + 1) * dim];
        let mut max = f32::NEG_INFINITY;
        for (j, weight) in weights.iter_mut().enumerate() {
            let k = &keys[j * stride + kv..j * stride + kv + dim];
            *weight = dot(q, k) * scale;
            max = max.max(*weight);
        }
        let mut sum = 0f32;
        for weight in weights.iter_mut() {
            *weight = (*weight - max).exp();
            sum += *weight;
        }
        let o = &mut out[h * dim..(h + 1) * dim];
        o.fill(0.0);
        for (j, weight) in weights.iter().enumerate() {
            let v = &values[j * stride + kv..j * stride + kv + dim];
            let p = weight / sum;
            for (o, v) in o.iter_mut().zip(v) {
                *o += p * v;
            }
        }
    }
}

/// A dot product in eight lanes, so that it compiles to vector instructions.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    for (a, b) in a8.iter().zip(b8) {
        for l in 0..8 {
            lanes[l] += a[l] * b[l];
        }
    }
    let mut total: f32 = lanes.iter().sum();
    for (a, b) in a_rest.iter().zip(b_rest) {
        total += a * b;
    }
    total
}

/// The index of the largest logit (the first of equals; 0 for none).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, l) in logits.iter().enumerate() {
        if *l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The tokens sampling at `temperature` (above 0) may draw, likeliest first, each with its
/// weight `exp((logit - max) / temperature)`: cut to the `top_k` likeliest when given, then to
/// the fewest whose probabilities add up to `top_p`. Tokens more than e^30 less likely than
/// the likeliest are left out: they cannot be drawn, and leaving them out spares sorting the
/// whole vocabulary for every token.
pub fn sampling_candidates(
    logits: &[f32],
    temperature: f64,
    top_k: Option<usize>,
    top_p: f64,
) -> Vec<(u32, f64)> {
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let floor = top - (30.0 * temperature) as f32;
    let mut candidates: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| **l >= floor)
        .map(|(i, &l)| (i as u32, l))
        .collect();
    candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(k) = top_k.filter(|&k| k > 0) {
        candidates.truncate(k);
    }
    let max = candidates.first().map_or(0.0, |c| c.1 as f64);
    let mut weighted: Vec<(u32, f64)> = candidates
        .iter()
        .map(|&(id, l)| (id, ((l as f64 - max) / temperature).exp()))
        .collect();
    if top_p < 1.0 {
        let total: f64 = weighted.iter().map(|c| c.1).sum();
        let mut kept = 0.0;
        for i in 0..weighted.len() {
            kept += weighted[i].1 / total;
            if kept >= top_p {
                weighted.truncate(i + 1);
                break;
            }
        }
    }
    weighted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A fixed pseudo-random sequence in [-1, 1).
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The product in f32 with plain loops, the reference: `(m, rows)`.
    fn reference(w: &[f32], x: &[f32], rows: usize, cols: usize, m: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * rows];
        for i in 0..m {
            for r in 0..rows {
                out[i * rows + r] = (0..cols).map(|c| w[r * cols + c] * x[i * cols + c]).sum();
            }
        }
        out
    }

    /// Q4_1 blocks as a GGUF writer makes them, and the values they stand for.
    fn q4_1_blocks(values: &[f32]) -> (Vec<u8>, Vec<f32>) {
        let mut bytes = Vec::new();
        let mut exact = Vec::new();
        for block in values.chunks_exact(BLOCK) {
            let min = block.iter().copied().fold(f32::INFINITY, f32::min);
            let max = block.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let scale = half::f16::from_f32((max - min) / 15.0);
            let min = half::f16::from_f32(min);
            bytes.extend(scale.to_le_bytes());
            bytes.extend(min.to_le_bytes());
            let (scale, min) = (scale.to_f32(), min.to_f32());
            let level = |v: f32| {
                if scale > 0.0 {
                    ((v - min) / scale).round().clamp(0.0, 15.0) as u8
                } else {
                    0
                }
            };
            let levels: Vec<u8> = block.iter().map(|v| level(*v)).collect();
            for j in 0..16 {
                bytes.push(levels[j] | (levels[j + 16] << 4));
            }
            exact.extend(levels.iter().map(|l| scale * *l as f32 + min));
        }
        (bytes, exact)
    }

    fn check(got: &[f32], expected: &[f32], cols: usize, what: &str) {
        assert_eq!(got.len(), expected.len(), "{what}");
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            // 8-bit inputs: within 2% of the dot product's scale.
            assert!(
                (g - e).abs() < 0.02 * (cols as f32).sqrt(),
                "{what}, element {i}: {g} vs {e}"
            );
        }
    }

    #[test]
    fn q8_0_products_match_plain_f32_loops_for_one_and_many_rows() {
        let (rows, cols) = (300, 96);
        let w = values(rows * cols, 1);
        let matrix = QMatrix::q8_0(&w, rows, cols).unwrap();
        assert_eq!((matrix.rows(), matrix.cols()), (rows, cols));
        for m in [1, 3, 4, 8, 17, 40] {
            let x = values(m * cols, m as u32 + 7);
            let got = matrix.matmul(&x, m);
            check(
                &got,
                &reference(&w, &x, rows, cols, m),
                cols,
                &format!("Q8_0, m {m}"),
            );
        }
    }

    #[test]
    fn q4_1_products_match_plain_f32_loops_over_the_same_weights() {
        let (rows, cols) = (64, 128);
        let (blocks, w) = q4_1_blocks(&values(rows * cols, 5));
        let matrix = QMatrix::q4_1(&blocks, rows, cols).unwrap();
        for m in [1, 4, 8, 13] {
            let x = values(m * cols, 9 + m as u32);
            let got = matrix.matmul(&x, m);
            check(
                &got,
                &reference(&w, &x, rows, cols, m),
                cols,
                &format!("Q4_1, m {m}"),
            );
        }
    }

    #[test]
    fn the_simd_kernels_agree_with_the_scalar_loops() {
        // Every instruction set the CPU has, up to the best; an odd number of blocks per row
        // too, for the AVX-512 kernels' last block.
        let levels: &[Simd] = match Simd::detect() {
            Simd::Avx512Vnni => &[Simd::Avx2, Simd::Avx512Vnni],
            Simd::Avx2 => &[Simd::Avx2],
            Simd::Scalar => &[],
        };
        for &simd in levels {
            for cols in [256, 288] {
                simd_kernels_agree(simd, cols);
            }
        }
    }

    fn simd_kernels_agree(simd: Simd, cols: usize) {
        let (blocks, _) = q4_1_blocks(&values(2 * cols, 3));
        let q4 = QMatrix::q4_1(&blocks, 2, cols).unwrap();
        let q8 = QMatrix::q8_0(&values(2 * cols, 6), 2, cols).unwrap();
        let inputs = Inputs::quantize(&values(8 * cols, 4), cols);
        let x: [InputRow<'_>; 8] = std::array::from_fn(|n| inputs.row(n));
        let per_row = cols / BLOCK;
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * b.abs().max(1.0);
        let compare = |simd: [f32; 8], one: [f32; 1], scalar: [f32; 8], what: &str| {
            for n in 0..8 {
                assert!(close(simd[n], scalar[n]), "{what}: {simd:?} vs {scalar:?}");
            }
            assert!(close(one[0], scalar[5]), "{what}: {one:?} vs {scalar:?}");
        };
        let what = |format: &str| format!("{format}, {simd:?}, {cols} columns");
        if let Weights::Q4_1 {
            scales,
            mins,
            levels,
        } = &q4.weights
        {
            let k = Q4_1 {
                per_row,
                scales,
                mins,
                levels,
            };
            compare(
                k.dots(1, simd, x),
                k.dots(1, simd, [x[5]]),
                k.dots_scalar(1, x),
                &what("Q4_1"),
            );
        } else {
            panic!("Q4_1 expected");
        }
        if let Weights::Q8_0 { scales, levels } = &q8.weights {
            let k = Q8_0 {
                per_row,
                scales,
                levels,
            };
            compare(
                k.dots(1, simd, x),
                k.dots(1, simd, [x[5]]),
                k.dots_scalar(1, x),
                &what("Q8_0"),
            );
        } else {
            panic!("Q8_0 expected");
        }
    }

    #[test]
    fn attention_matches_a_plain_softmax_over_the_visible_keys() {
        let shape = Heads {
            heads: 4,
            kv_heads: 2,
            dim: 12,
        };
        let tokens = 5;
        let stride = shape.kv_heads * shape.dim;
        let query = values(shape.heads * shape.dim, 1);
        let keys = values(tokens * stride, 2);
        let vals = values(tokens * stride, 3);
        for visible in [1, 3, 5] {
            let mut out = vec![0f32; shape.heads * shape.dim];
            attend(&query, &keys, &vals, visible, shape, 0.5, &mut out);
            for h in 0..shape.heads {
                let kv = h / 2 * shape.dim;
                let q = &query[h * shape.dim..][..shape.dim];
                let scores: Vec<f32> = (0..visible)
                    .map(|j| {
                        let k = &keys[j * stride + kv..][..shape.dim];
                        0.5 * q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                for d in 0..shape.dim {
                    let expected: f32 = (0..visible)
                        .map(|j| exps[j] / sum * vals[j * stride + kv + d])
                        .sum();
                    let got = out[h * shape.dim + d];
                    assert!(
                        (got - expected).abs() < 1e-5,
                        "{visible} {h} {d}: {got} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn rope_rotates_each_pair_of_each_head() {
        let mut x = vec![1.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 2.0];
        let (cos, sin) = ([0.0, 0.5], [1.0, 0.5]);
        rope(&mut x, &cos, &sin);
        assert_eq!(x, [0.0, 1.0, -1.0, 1.0, 0.0, 1.0, -1.0, 1.0]);
    }

    #[test]
    fn sampling_keeps_the_likeliest_tokens_within_top_k_and_top_p() {
        let logits = [1.0, 3.0, -50.0, 2.0, 3.0];
        assert_eq!(argmax(&logits), 1);
        let all = sampling_candidates(&logits, 1.0, None, 1.0);
        let ids: Vec<u32> = all.iter().map(|c| c.0).collect();
        // Ties in order of id; the token e^53 less likely than the top one is left out.
        assert_eq!(ids, [1, 4, 3, 0]);
        assert!((all[0].1 - 1.0).abs() < 1e-12 && (all[2].1 - (-1f64).exp()).abs() < 1e-12);
        let top_k = sampling_candidates(&logits, 1.0, Some(3), 1.0);
        assert_eq!(top_k.len(), 3);
        // The two top tokens hold 2 / (2 + e^-1 + e^-2) = 0.799 of the probability.
        assert_eq!(sampling_candidates(&logits, 1.0, None, 0.75).len(), 2);
        assert_eq!(sampling_candidates(&logits, 1.0, None, 0.8).len(), 3);
    }

    #[test]
    fn malformed_matrices_are_refused() {
        let err = QMatrix::q8_0(&[0.0; 40], 2, 20).err().unwrap();
        assert!(err.contains("blocks of 32"), "{err}");
        let err = QMatrix::q4_1(&[0; 30], 1, 32).err().unwrap();
        assert!(err.contains("takes 20 bytes, not 30"), "{err}");
    }
}
